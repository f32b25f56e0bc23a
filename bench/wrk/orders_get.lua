-- GET /v1/orders/{id} by its owner. BENCH_ORDERS: "<order id> <owner's access token>" lines.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

rotating("BENCH_ORDERS", "^(%S+) (%S+)$", function(id, token)
  return wrk.format("GET", "/v1/orders/" .. id, { ["Authorization"] = "Bearer " .. token })
end)
