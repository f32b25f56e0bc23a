-- POST /v1/auth/token: log in as the seeded users in turn (an argon2id verify per request).
-- BENCH_LOGINS: a file of "<email> <password>" lines written by the harness.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

rotating("BENCH_LOGINS", "^(%S+) (.+)$", function(email, password)
  local body = string.format('{"email":"%s","password":"%s"}', email, password)
  return wrk.format("POST", "/v1/auth/token", { ["Content-Type"] = "application/json" }, body)
end)
