-- POST /v1/auth/token: log in as the seeded users in turn (argon2id verify on every request).
-- BENCH_LOGINS: a file of "<email> <password>" lines written by the harness.
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local prepared = {}
local i = 0
-- Where the previous run of this script stopped: successive runs walk the whole list.
local start = tonumber(os.getenv("BENCH_START") or "0")

function init(args)
  for line in io.lines(os.getenv("BENCH_LOGINS")) do
    local email, password = line:match("^(%S+) (.+)$")
    local body = string.format('{"email":"%s","password":"%s"}', email, password)
    prepared[#prepared + 1] = wrk.format(
      "POST", "/v1/auth/token", { ["Content-Type"] = "application/json" }, body)
  end
end

function request()
  i = (i + start) % #prepared + 1
  start = 0
  return prepared[i]
end
