-- GET /v1/orders/{id} by its owner. BENCH_ORDERS: "<order id> <owner's access token>" lines.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local prepared = {}
local i = 0

function init(args)
  for line in io.lines(os.getenv("BENCH_ORDERS")) do
    local id, token = line:match("^(%S+) (%S+)$")
    prepared[#prepared + 1] = wrk.format(
      "GET", "/v1/orders/" .. id, { ["Authorization"] = "Bearer " .. token })
  end
end

function request()
  i = i % #prepared + 1
  return prepared[i]
end
