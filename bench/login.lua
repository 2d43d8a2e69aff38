-- bench/login.lua — wrk script for the login workload: POST /login, each request for another
-- user of the pool with that user's code, so that no code is ever sent twice (replay
-- protection would refuse it). Arguments: CODES_FILE THREADS PASSWORD; CODES_FILE comes from
-- `setup.pl codes`: its first line is a time step S, then "username<TAB>code(S)<TAB>code(S+1)...".
-- Thread i takes lines i, i+THREADS, ... A request at time step t sends the code of step t+1
-- (later than the enrolment's step, within SecAuthTOTPSkew 1). When a thread runs out of users
-- it sends an empty body (a 400, so the shortage shows as non-2xx) and counts it.

local counter = 0
local threads = {}

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local users, codes = {}, {}
local first, nextuser, password = 0, 1, ""
exhausted = 0

function init(args)
   local file, nthreads = args[1], tonumber(args[2])
   password = args[3]
   local fh = assert(io.open(file, "r"))
   first = tonumber(fh:read("*l"))
   local line = 0
   for l in fh:lines() do
      if line % nthreads == id then
         local fields = {}
         for f in l:gmatch("[^\t]+") do fields[#fields + 1] = f end
         users[#users + 1] = fields[1]
         codes[#codes + 1] = { unpack(fields, 2) }
      end
      line = line + 1
   end
   fh:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local i = nextuser
   nextuser = i + 1
   local cs = codes[i]
   local k = math.floor(os.time() / 30) + 1 - first + 1
   if not cs or k < 1 or k > #cs then
      exhausted = exhausted + 1
      return wrk.format(nil, "/login", nil, "")
   end
   return wrk.format(nil, "/login", nil,
      '{"username":"' .. users[i] .. '","password":"' .. password .. '","code":"' .. cs[k] .. '"}')
end

function done(summary, latency, requests)
   local total = 0
   for _, t in ipairs(threads) do total = total + (t:get("exhausted") or 0) end
   io.write(string.format("Login pool exhausted: %d\n", total))
end
