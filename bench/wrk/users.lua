-- GET /v1/users/{id} as each seeded user, with that user's own bearer token, ids rotated.
-- BENCH_PAIRS: a file of "<user id> <access token>" lines written by the harness.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local prepared = {}
local i = 0
-- Where the previous run of this script stopped: successive runs walk the whole list.
local start = tonumber(os.getenv("BENCH_START") or "0")

function init(args)
  for line in io.lines(os.getenv("BENCH_PAIRS")) do
    local id, token = line:match("^(%S+) (%S+)$")
    prepared[#prepared + 1] = wrk.format(
      "GET", "/v1/users/" .. id, { ["Authorization"] = "Bearer " .. token })
  end
end

function request()
  i = (i + start) % #prepared + 1
  start = 0
  return prepared[i]
end
