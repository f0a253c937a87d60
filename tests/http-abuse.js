// http-abuse.js: misbehaving webhook clients, for tests/t0630.
//
//   node http-abuse.js trickle PORT PATH TOKEN N SECONDS
//     N connections that announce a 100 kB body and send one byte a second
//     for SECONDS; prints how many the server closed before they finished.
//     Says "trickling N" on stderr once all N have sent their headers.
//   node http-abuse.js deep PORT PATH TOKEN DEPTH
//     POST a JSON array nested DEPTH deep; prints the status.
//   node http-abuse.js chunked PORT PATH TOKEN BYTES
//     POST BYTES of JSON in chunks, with no Content-Length; prints the
//     status.
'use strict';
const net = require('net');
const http = require('http');

const [mode, port, path, token, arg1, arg2] = process.argv.slice(2);

function post(body, headers, done) {
	const req = http.request({ host: '127.0.0.1', port: Number(port),
	    path, method: 'POST', headers: Object.assign({
	    'Authorization': 'Bearer ' + token,
	    'Content-Type': 'application/json' }, headers) }, (res) => {
		res.resume();
		res.on('end', () => done(res.statusCode));
	});
	req.on('error', () => done('reset'));
	return req;
}

if (mode === 'trickle') {
	const n = Number(arg1), seconds = Number(arg2);
	let closed = 0, finished = 0, started = 0;
	for (let i = 0; i < n; i++) {
		const s = net.connect(Number(port), '127.0.0.1', () => {
			s.write('POST ' + path + ' HTTP/1.1\r\nHost: x\r\n' +
			    'Authorization: Bearer ' + token + '\r\n' +
			    'Content-Length: 100000\r\n\r\n{', () => {
				if (++started === n)
					console.error('trickling ' + n);
			});
		});
		let sent = 0;
		const t = setInterval(() => {
			if (sent++ >= seconds) { clearInterval(t); s.destroy();
			    finished++; check(); return; }
			s.write(' ');
		}, 1000);
		s.on('close', () => { if (sent < seconds) { closed++;
		    clearInterval(t); check(); } });
		s.on('error', () => {});
	}
	function check() {
		if (closed + finished === n) {
			console.log(closed);
			process.exit(0);
		}
	}
} else if (mode === 'deep') {
	const depth = Number(arg1);
	const body = '['.repeat(depth) + ']'.repeat(depth);
	const req = post(body, { 'Content-Length': body.length },
	    (st) => console.log(st));
	req.end(body);
} else if (mode === 'chunked') {
	const bytes = Number(arg1);
	const req = post(null, { 'Transfer-Encoding': 'chunked' },
	    (st) => console.log(st));
	const chunk = ' '.repeat(65536);
	let sent = 0;
	(function more() {
		while (sent < bytes) {
			sent += chunk.length;
			if (!req.write(chunk)) { req.once('drain', more); return; }
		}
		req.end('{}');
	})();
} else {
	console.error('usage: http-abuse.js trickle|deep|chunked ...');
	process.exit(2);
}
