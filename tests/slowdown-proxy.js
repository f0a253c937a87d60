#!/usr/bin/env node
// tests/slowdown-proxy.js: a TCP proxy in front of an S3 server that, for a
// while, answers every request "503 SlowDown" as a busy AWS does, then
// forwards again. RGW 16.2 has no rate limit to make it say so itself.
//
//	node slowdown-proxy.js TARGET SECONDS
//
// It listens on a free port of 127.0.0.1, prints "listening on
// 127.0.0.1:PORT" and forwards every connection to TARGET (host:port).
// On SIGUSR2 (SIGUSR1 would start Node's inspector), for SECONDS, it
// reads each request whole and answers 503 SlowDown with AWS's error body,
// then closes the connection; after that it forwards again. The
// connections being forwarded when SIGUSR2 comes are closed, so that a
// client keeping one alive meets the 503s too.
//
// Forwarded bytes go through unchanged in both directions: the Host
// header is signed, so it stays the proxy's host:port, which the server
// must take (RGW does, in path style). One line per request refused goes
// to stdout: "503 METHOD PATH".
'use strict';
const net = require('net');

const [target, seconds] = process.argv.slice(2);
if (!target || !/^\d+$/.test(seconds || '')) {
	console.error('usage: slowdown-proxy.js HOST:PORT SECONDS');
	process.exit(1);
}
const colon = target.lastIndexOf(':');
const thost = target.slice(0, colon);
const tport = Number(target.slice(colon + 1));
const forwarded = new Set();
let slowUntil = 0;
let refused = 0;

process.on('SIGUSR2', () => {
	slowUntil = Date.now() + Number(seconds) * 1000;
	console.log(`slow for ${seconds} s, closing ${forwarded.size} ` +
	    'connections');
	for (const c of forwarded)
		c.destroy();
	setTimeout(() => console.log(
	    `forwarding again after ${refused} answers 503`),
	    Number(seconds) * 1000);
});

function forward(client) {
	const up = net.connect(tport, thost);
	forwarded.add(client);
	client.on('close', () => {
		forwarded.delete(client);
		up.destroy();
	});
	client.pipe(up);
	up.pipe(client);
	client.on('error', () => up.destroy());
	up.on('error', () => client.destroy());
}

// Read one request (head, then Content-Length bytes of body, so that the
// client is not cut off mid-upload and sees the answer), answer 503.
function refuse(client) {
	let buf = Buffer.alloc(0);
	let head = null;
	let need = 0;
	client.on('error', () => {});
	client.on('data', (d) => {
		if (head === null) {
			buf = Buffer.concat([buf, d]);
			const end = buf.indexOf('\r\n\r\n');
			if (end < 0)
				return;
			head = buf.subarray(0, end).toString('latin1');
			const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
			need = (m ? Number(m[1]) : 0) - (buf.length - end - 4);
		} else
			need -= d.length;
		if (need > 0)
			return;
		client.removeAllListeners('data');
		client.resume();
		const [method, path] = head.split(' ', 2);
		refused++;
		console.log(`503 ${method} ${path}`);
		const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
		    '<Error><Code>SlowDown</Code><Message>Please reduce your ' +
		    'request rate.</Message><RequestId>slowdown-proxy-' +
		    refused + '</RequestId></Error>';
		client.end('HTTP/1.1 503 Slow Down\r\n' +
		    'Content-Type: application/xml\r\n' +
		    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
		    'Connection: close\r\n\r\n' +
		    (method === 'HEAD' ? '' : body));
	});
}

const server = net.createServer((client) => {
	if (Date.now() < slowUntil)
		refuse(client);
	else
		forward(client);
});
server.listen(0, '127.0.0.1', () =>
    console.log(`listening on 127.0.0.1:${server.address().port}`));
