-- GET /v1/users/{id} as each seeded user, with that user's own bearer token.
-- BENCH_PAIRS: a file of "<user id> <access token>" lines written by the harness.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

rotating("BENCH_PAIRS", "^(%S+) (%S+)$", function(id, token)
  return wrk.format("GET", "/v1/users/" .. id, { ["Authorization"] = "Bearer " .. token })
end)
