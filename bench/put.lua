-- PUT a 1 KiB body to a new path per request. args: path prefix; header token via -H.
n = 0
function setup(thread)
  n = n + 1
  thread:set("id", n)
end
function init(args)
  prefix = args[1]
  counter = 0
  wrk.method = "PUT"
  wrk.body = string.rep("x", 1024)
end
function request()
  counter = counter + 1
  return wrk.format("PUT", prefix .. id .. "-" .. counter .. ".bin")
end
