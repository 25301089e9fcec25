# Tests of libkwq (proto/): every operation against a private redis-server.
