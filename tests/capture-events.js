#!/usr/bin/env node
// tests/capture-events.js: an HTTP server that records every request it
// gets and answers 200, to stand where a bucket notification's
// push-endpoint points and see exactly what the object store sends.
//
//	node capture-events.js DIR
//
// Listens on a free port of 127.0.0.1 and writes it to DIR/port once it
// listens. Request N (from 1) is saved as DIR/N.req, a JSON object with its
// method, url (path and query, as sent) and headers (raw names and values,
// in order), and DIR/N.body, its body as received; N.req is written last,
// so a test waits for it.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
if (!dir) {
	process.stderr.write('usage: capture-events.js DIR\n');
	process.exit(2);
}
let n = 0;
const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		n += 1;
		const headers = [];
		for (let i = 0; i < req.rawHeaders.length; i += 2)
			headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
		fs.writeFileSync(path.join(dir, `${n}.body`),
		    Buffer.concat(chunks));
		// Write then rename: a reader never sees half a file.
		const tmp = path.join(dir, `.${n}.req`);
		fs.writeFileSync(tmp, JSON.stringify({ method: req.method,
		    url: req.url, headers }, null, 2) + '\n');
		fs.renameSync(tmp, path.join(dir, `${n}.req`));
		res.writeHead(200, { 'content-length': '0' });
		res.end();
	});
});
server.listen(0, '127.0.0.1', () => {
	const tmp = path.join(dir, '.port');
	fs.writeFileSync(tmp, String(server.address().port) + '\n');
	fs.renameSync(tmp, path.join(dir, 'port'));
});
process.on('SIGTERM', () => process.exit(0));
