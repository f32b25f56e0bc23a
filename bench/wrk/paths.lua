-- GET each path of BENCH_PATHS (one per line) in turn: the thumbnailer's uncached renders,
-- where every path names a variant not rendered before.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

rotating("BENCH_PATHS", "^(%S+)$", function(path)
  return wrk.format("GET", path)
end)
