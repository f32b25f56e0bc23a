-- GET /v1/orders/{id} by its owner. BENCH_ORDERS: "<order id> <owner's access token>" lines.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local prepared = {}
local i = 0
-- Where the previous run of this script stopped: successive runs walk the whole list.
local start = tonumber(os.getenv("BENCH_START") or "0")

function init(args)
  for line in io.lines(os.getenv("BENCH_ORDERS")) do
    local id, token = line:match("^(%S+) (%S+)$")
    prepared[#prepared + 1] = wrk.format(
      "GET", "/v1/orders/" .. id, { ["Authorization"] = "Bearer " .. token })
  end
end

function request()
  i = (i + start) % #prepared + 1
  start = 0
  return prepared[i]
end
