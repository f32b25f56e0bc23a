-- GET /users/{id} with ids rotated over 1..10000, as in shared/bench/peers.md.
local n = 0
request = function()
  n = n % 10000 + 1
  return wrk.format("GET", "/users/" .. n)
end
