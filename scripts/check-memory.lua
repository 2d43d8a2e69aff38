-- scripts/check-memory.lua — the wrk request mix of scripts/check-memory: GET /products,
-- GET /products/{id}, POST /products, GET /me and a few 4xx, all with one token (TOKEN,
-- PRODUCT_ID from the environment); counts 5xx answers.
local token = os.getenv("TOKEN")
local id = os.getenv("PRODUCT_ID")
local threads = {}
local n = 0

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    server_errors = 0
end

request = function()
    n = n + 1
    local k = n % 20
    local h = {["Authorization"] = "Bearer " .. token}
    if k < 8 then
        return wrk.format("GET", "/products?limit=10", h)
    elseif k < 13 then
        return wrk.format("GET", "/products/" .. id, h)
    elseif k < 16 then
        h["Content-Type"] = "application/json"
        return wrk.format("POST", "/products", h,
                          '{"name":"mem-' .. n .. '","price":1.5,"quantity":2}')
    elseif k < 19 then
        return wrk.format("GET", "/me", h)
    else
        h["Content-Type"] = "application/json"
        return wrk.format("POST", "/products", h, '{"name":"","price":-1}')
    end
end

function response(status, headers, body)
    if status >= 500 then
        server_errors = server_errors + 1
    end
end

function done(summary, latency, requests)
    local total = 0
    for _, t in ipairs(threads) do
        total = total + t:get("server_errors")
    end
    io.write(string.format("5xx: %d\n", total))
end
