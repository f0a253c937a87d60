#!/usr/bin/env node
// tests/s3cli.js: a small S3 client for the tests, independent of objwatch.
//
// It does what the AWS SDKs do, not what libs3 does: keys percent-encoded
// per RFC 3986 (a space is %20, '+' is %2B), requests signed with AWS
// Signature V4 (UNSIGNED-PAYLOAD). So objects the tests put are named as a
// phone app or a web uploader would name them.
//
//	node s3cli.js ENDPOINT put BUCKET KEY FILE [CONTENT-TYPE]
//	node s3cli.js ENDPOINT putdir BUCKET DIR      every file, key = path in DIR
//	node s3cli.js ENDPOINT get BUCKET KEY FILE
//	node s3cli.js ENDPOINT head BUCKET KEY        prints status, type, etag, meta
//	node s3cli.js ENDPOINT ls BUCKET [PREFIX]     prints key<TAB>size<TAB>etag
//	node s3cli.js ENDPOINT rm BUCKET KEY
//
// ENDPOINT is host:port (http). Keys S3RVER/S3RVER unless S3_ACCESS_KEY
// and S3_SECRET_KEY are set. With S3_META_SOURCE set, put adds it as
// x-amz-meta-objwatch-source (an object that claims to be an output).
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const [endpoint, cmd, ...args] = process.argv.slice(2);
const access = process.env.S3_ACCESS_KEY || 'S3RVER';
const secret = process.env.S3_SECRET_KEY || 'S3RVER';
const region = 'us-east-1';

function encode(s) {
	return encodeURIComponent(s).replace(/[!'()*]/g,
	    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}
function encodeKey(key) {
	return key.split('/').map(encode).join('/');
}
function hmac(k, s) {
	return crypto.createHmac('sha256', k).update(s).digest();
}

function request(method, bucket, key, query, body, headers) {
	const p = '/' + bucket + (key === null ? '/' : '/' + encodeKey(key));
	const qs = Object.keys(query).sort()
	    .map((k) => encode(k) + '=' + encode(query[k])).join('&');
	const now = new Date().toISOString().replace(/[:-]|\.\d{3}/g, '');
	const date = now.slice(0, 8);
	const h = Object.assign({
		host: endpoint,
		'x-amz-date': now,
		'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
	}, headers || {});
	if (body !== null)
		h['content-length'] = String(body.length);
	const names = Object.keys(h).map((n) => n.toLowerCase()).sort();
	const lower = {};
	for (const n of Object.keys(h))
		lower[n.toLowerCase()] = String(h[n]).trim();
	const canonical = [method, p, qs,
	    names.map((n) => n + ':' + lower[n] + '\n').join(''),
	    names.join(';'), 'UNSIGNED-PAYLOAD'].join('\n');
	const scope = `${date}/${region}/s3/aws4_request`;
	const sts = ['AWS4-HMAC-SHA256', now, scope,
	    crypto.createHash('sha256').update(canonical).digest('hex')].join('\n');
	let k = hmac('AWS4' + secret, date);
	k = hmac(k, region);
	k = hmac(k, 's3');
	k = hmac(k, 'aws4_request');
	const sig = crypto.createHmac('sha256', k).update(sts).digest('hex');
	h.authorization = `AWS4-HMAC-SHA256 Credential=${access}/${scope}, ` +
	    `SignedHeaders=${names.join(';')}, Signature=${sig}`;
	const [host, port] = endpoint.split(':');
	return new Promise((resolve, reject) => {
		const req = http.request({ host, port, method,
		    path: p + (qs ? '?' + qs : ''), headers: h }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode,
			    headers: res.headers, body: Buffer.concat(chunks) }));
		});
		req.on('error', reject);
		if (body !== null)
			req.write(body);
		req.end();
	});
}

function check(res, what) {
	if (res.status < 200 || res.status > 299) {
		process.stderr.write(`s3cli: ${what}: HTTP ${res.status} ` +
		    res.body.toString() + '\n');
		process.exit(1);
	}
	return res;
}

function walk(dir, base, out) {
	for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
		const full = path.join(dir, e.name);
		if (e.isDirectory())
			walk(full, base, out);
		else
			out.push(path.relative(base, full));
	}
	return out;
}

function unxml(s) {
	return s.replace(/&quot;/g, '"').replace(/&apos;/g, "'")
	    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

async function main() {
	if (cmd === 'put') {
		const [bucket, key, file, type] = args;
		const h = { 'content-type': type || 'image/jpeg' };
		if (process.env.S3_META_SOURCE)
			h['x-amz-meta-objwatch-source'] = process.env.S3_META_SOURCE;
		check(await request('PUT', bucket, key, {},
		    fs.readFileSync(file), h), `put ${key}`);
	} else if (cmd === 'putdir') {
		const [bucket, dir] = args;
		const keys = walk(dir, dir, []);
		// a few at a time, as an uploading client would
		for (let i = 0; i < keys.length; i += 8) {
			await Promise.all(keys.slice(i, i + 8).map(async (key) =>
			    check(await request('PUT', bucket, key, {},
			    fs.readFileSync(path.join(dir, key)),
			    { 'content-type': 'image/jpeg' }), `put ${key}`)));
		}
	} else if (cmd === 'get') {
		const [bucket, key, file] = args;
		const res = check(await request('GET', bucket, key, {}, null),
		    `get ${key}`);
		fs.writeFileSync(file, res.body);
	} else if (cmd === 'head') {
		const [bucket, key] = args;
		const res = await request('HEAD', bucket, key, {}, null);
		console.log([res.status, res.headers['content-type'] || '',
		    (res.headers.etag || '').replace(/"/g, ''),
		    res.headers['x-amz-meta-objwatch-source'] || ''].join('\t'));
	} else if (cmd === 'ls') {
		const [bucket, prefix] = args;
		let marker = '';
		for (;;) {
			const q = { prefix: prefix || '' };
			if (marker)
				q.marker = marker;
			const res = check(await request('GET', bucket, null, q,
			    null), `list ${bucket}`);
			const xml = res.body.toString();
			const re = /<Contents>.*?<Key>(.*?)<\/Key>.*?<ETag>(.*?)<\/ETag>.*?<Size>(\d+)<\/Size>.*?<\/Contents>/gs;
			let m, last = '';
			while ((m = re.exec(xml)) !== null) {
				last = unxml(m[1]);
				console.log([last, m[3],
				    unxml(m[2]).replace(/"/g, '')].join('\t'));
			}
			if (!/<IsTruncated>true<\/IsTruncated>/.test(xml) || !last)
				break;
			marker = last;
		}
	} else if (cmd === 'rm') {
		const [bucket, key] = args;
		check(await request('DELETE', bucket, key, {}, null), `rm ${key}`);
	} else {
		process.stderr.write('usage: s3cli.js ENDPOINT put|putdir|get|' +
		    'head|ls|rm ...\n');
		process.exit(2);
	}
}
main().catch((e) => {
	process.stderr.write(`s3cli: ${e.message}\n`);
	process.exit(1);
});
