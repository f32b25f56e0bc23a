-- users.lua at a steady, moderate rate: each connection waits BENCH_DELAY_MS before its next
-- request, so the server is not saturated and latency, loop lag and GC pauses show what a
-- request meets at an operating load rather than in a queue. (wrk is closed-loop: the rate is
-- about connections / (delay + latency).)
dofile(os.getenv("BENCH_WRK_DIR") .. "/users.lua")

local pause = tonumber(os.getenv("BENCH_DELAY_MS"))

function delay()
  return pause
end
