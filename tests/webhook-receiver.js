// A webhook receiver for the tests: node webhook-receiver.js PORT FAILS LOG
// listens on 127.0.0.1:PORT (0: any free port, printed as "listening on
// PORT"), answers 500 to the first FAILS requests of each delivery (by its
// X-Objwatch-Delivery header) and 200 after, and appends one JSON line per
// request to LOG: delivery, n (its attempt here), status, headers, body.
"use strict";
const http = require("http");
const fs = require("fs");

const [port, fails, log] = process.argv.slice(2);
const seen = new Map();

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on("data", (c) => chunks.push(c));
	req.on("end", () => {
		const id = req.headers["x-objwatch-delivery"] || "";
		const n = (seen.get(id) || 0) + 1;
		seen.set(id, n);
		const status = n <= Number(fails) ? 500 : 200;
		fs.appendFileSync(log, JSON.stringify({
			delivery: id, n, status, method: req.method,
			url: req.url, headers: req.headers,
			body: Buffer.concat(chunks).toString("utf8"),
		}) + "\n");
		res.writeHead(status, { "Content-Type": "text/plain" });
		res.end(status === 200 ? "ok\n" : "not now\n");
	});
});
server.listen(Number(port), "127.0.0.1", () => {
	console.log("listening on " + server.address().port);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
