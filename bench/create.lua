-- bench/create.lua — wrk script for the create workload: POST /products, every time with the
-- body of the file named by BENCH_CREATE_BODY (one product); the token comes with -H.

local fh = assert(io.open(assert(os.getenv("BENCH_CREATE_BODY")), "r"))
wrk.method = "POST"
wrk.body = fh:read("*a")
wrk.headers["Content-Type"] = "application/json"
fh:close()
