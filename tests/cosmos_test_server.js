// The Cosmos DB test server for the suite: @vercel/cosmosdb-server (pinned in package-lock.json)
// on 127.0.0.1 only, HTTPS with the package's self-signed certificate.
//
// Usage: node tests/cosmos_test_server.js PORT
//
// One fix at the wire: version 1.0.1 answers a point read of a missing document with HTTP 500
// ("Cannot read properties of undefined") instead of Cosmos DB's 404. Its own cross-partition
// read path answers 404 correctly and still looks the document up by id and partition key, so
// document GETs are routed there.
"use strict";
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const port = parseInt(process.argv[2], 10);
const server = createHttpsServer();
const [handle] = server.listeners("request");
server.removeAllListeners("request");
server.on("request", (req, res) => {
  if (req.method === "GET" && /\/docs\/[^/?]+\/?(\?.*)?$/.test(req.url)) {
    req.headers["x-ms-documentdb-query-enablecrosspartition"] = "true";
  }
  handle(req, res);
});
server.listen(port, "127.0.0.1", () => {
  console.log(`Ready to accept HTTPS connections at 127.0.0.1:${server.address().port}`);
});
