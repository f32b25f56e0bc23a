-- POST /v1/orders as the seeded users in turn, a fresh Idempotency-Key per request.
-- BENCH_PAIRS: "<user id> <access token>" lines; BENCH_ORDER_BODY: the JSON body to send.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local tokens = {}
local body = ""
-- Successive runs continue where the previous one stopped (BENCH_START, set by the harness):
-- LuaJIT's math.random is not seeded, so the prefix alone would repeat in every run and a run
-- would replay the keys of the one before it instead of placing new orders.
local i = tonumber(os.getenv("BENCH_START") or "0")
local prefix = ""

function init(args)
  for line in io.lines(os.getenv("BENCH_PAIRS")) do
    local _, token = line:match("^(%S+) (%S+)$")
    tokens[#tokens + 1] = "Bearer " .. token
  end
  local file = assert(io.open(os.getenv("BENCH_ORDER_BODY"), "r"))
  body = file:read("*a")
  file:close()
  prefix = os.getenv("BENCH_RUN_ID") .. "-" .. tostring(math.random(1, 1e9)) .. "-"
end

function request()
  i = i + 1
  local headers = {
    ["Authorization"] = tokens[(i - 1) % #tokens + 1],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. i,
  }
  return wrk.format("POST", "/v1/orders", headers, body)
end
