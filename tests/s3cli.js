#!/usr/bin/env node
// tests/s3cli.js: a small S3 client for the tests, independent of objwatch.
//
// It does what the AWS SDKs do, not what libs3 does: keys percent-encoded
// per RFC 3986 (a space is %20, '+' is %2B), requests signed with AWS
// Signature V4 (UNSIGNED-PAYLOAD for object bodies). So objects the tests
// put are named as a phone app or a web uploader would name them.
//
//	node s3cli.js ENDPOINT put BUCKET KEY FILE [CONTENT-TYPE]
//	node s3cli.js ENDPOINT putdir BUCKET DIR      every file, key = path in DIR
//	node s3cli.js ENDPOINT get BUCKET KEY FILE
//	node s3cli.js ENDPOINT head BUCKET KEY        prints status, type, etag, meta
//	node s3cli.js ENDPOINT ls BUCKET [PREFIX]     prints key<TAB>size<TAB>etag
//	node s3cli.js ENDPOINT rm BUCKET KEY
//	node s3cli.js ENDPOINT mb BUCKET              create a bucket
//	node s3cli.js ENDPOINT rb BUCKET              remove an empty bucket
//	node s3cli.js ENDPOINT topic NAME PUSH_URL    SNS-style CreateTopic (Ceph
//	                                              RGW), prints the TopicArn
//	node s3cli.js ENDPOINT notify BUCKET TOPIC_ARN ID EVENT...
//	                                              PutBucketNotificationConfiguration
//	node s3cli.js ENDPOINT assume-role ROLE_ARN SESSION_NAME SECONDS
//	                                              STS AssumeRole (Ceph RGW with
//	                                              STS on), prints for eval:
//	                                              AWS_ACCESS_KEY_ID='...'
//	                                              AWS_SECRET_ACCESS_KEY='...'
//	                                              AWS_SESSION_TOKEN='...'
//
// ENDPOINT is host:port. Keys S3RVER/S3RVER unless S3_ACCESS_KEY and
// S3_SECRET_KEY are set; S3_REGION is us-east-1 unless set. S3_HTTPS=1
// speaks https, trusting only S3_CA_FILE when it is set. S3_VIRTUAL=1 names
// the bucket in the Host header (BUCKET.S3_VHOST_DOMAIN, "localhost" unless
// set) instead of the path, still connecting to ENDPOINT: glibc does not
// resolve BUCKET.localhost, so the name is never looked up. With
// S3_META_SOURCE set, put adds it as x-amz-meta-objwatch-source (an object
// that claims to be an output). With S3_SESSION_TOKEN set, every request
// sends it as x-amz-security-token, signed (temporary credentials).
//
// A request the server refuses exits 1 with "s3cli: WHAT: HTTP STATUS
// CODE" on stderr, CODE being the <Code> of its error body.
'use strict';
const http = require('http');
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const [endpoint, cmd, ...args] = process.argv.slice(2);
const access = process.env.S3_ACCESS_KEY || 'S3RVER';
const secret = process.env.S3_SECRET_KEY || 'S3RVER';
const region = process.env.S3_REGION || 'us-east-1';
const secure = process.env.S3_HTTPS === '1';
const virtual = process.env.S3_VIRTUAL === '1';
const vhostDomain = process.env.S3_VHOST_DOMAIN || 'localhost';
const ca = process.env.S3_CA_FILE ? fs.readFileSync(process.env.S3_CA_FILE) :
    undefined;
const token = process.env.S3_SESSION_TOKEN || '';

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
function sha256(b) {
	return crypto.createHash('sha256').update(b).digest('hex');
}

// request(METHOD, BUCKET, KEY, QUERY, BODY, HEADERS, OPTS): one signed
// request. BUCKET null is the service (/), KEY null the bucket itself. A
// QUERY value of null is a bare sub-resource (?notification). OPTS.service
// is the signing service (s3); OPTS.signBody hashes BODY into the signature
// instead of UNSIGNED-PAYLOAD.
function request(method, bucket, key, query, body, headers, opts) {
	opts = opts || {};
	const [host, port] = endpoint.split(':');
	let p, hostHeader = endpoint, servername = host;
	if (bucket === null) {
		p = '/';
	} else if (virtual) {
		servername = bucket + '.' + vhostDomain;
		hostHeader = servername + (port ? ':' + port : '');
		p = '/' + (key === null ? '' : encodeKey(key));
	} else {
		p = '/' + bucket + (key === null ? '/' : '/' + encodeKey(key));
	}
	const sorted = Object.keys(query).sort();
	const qs = sorted.map((k) => encode(k) + '=' +
	    encode(query[k] === null ? '' : query[k])).join('&');
	const wire = sorted.map((k) => encode(k) +
	    (query[k] === null ? '' : '=' + encode(query[k]))).join('&');
	const now = new Date().toISOString().replace(/[:-]|\.\d{3}/g, '');
	const date = now.slice(0, 8);
	const payload = opts.signBody ? sha256(body || '') : 'UNSIGNED-PAYLOAD';
	const h = Object.assign({
		host: hostHeader,
		'x-amz-date': now,
		'x-amz-content-sha256': payload,
	}, token ? { 'x-amz-security-token': token } : {}, headers || {});
	if (body !== null)
		h['content-length'] = String(body.length);
	const names = Object.keys(h).map((n) => n.toLowerCase()).sort();
	const lower = {};
	for (const n of Object.keys(h))
		lower[n.toLowerCase()] = String(h[n]).trim();
	const canonical = [method, p, qs,
	    names.map((n) => n + ':' + lower[n] + '\n').join(''),
	    names.join(';'), payload].join('\n');
	const scope = `${date}/${region}/${opts.service || 's3'}/aws4_request`;
	const sts = ['AWS4-HMAC-SHA256', now, scope, sha256(canonical)]
	    .join('\n');
	let k = hmac('AWS4' + secret, date);
	k = hmac(k, region);
	k = hmac(k, opts.service || 's3');
	k = hmac(k, 'aws4_request');
	const sig = crypto.createHmac('sha256', k).update(sts).digest('hex');
	h.authorization = `AWS4-HMAC-SHA256 Credential=${access}/${scope}, ` +
	    `SignedHeaders=${names.join(';')}, Signature=${sig}`;
	const o = { host, port, method, path: p + (wire ? '?' + wire : ''),
	    headers: h };
	if (secure) {
		o.ca = ca;
		// SNI and the certificate check use the name the Host header
		// gives; Node sends no SNI for an IP address.
		o.servername = /^[\d.]+$/.test(servername) ? '' : servername;
		o.checkServerIdentity = (_, cert) =>
		    require('tls').checkServerIdentity(servername, cert);
	}
	return new Promise((resolve, reject) => {
		const req = (secure ? https : http).request(o, (res) => {
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
		const m = /<Code>(.*?)<\/Code>/s.exec(res.body.toString());
		process.stderr.write(`s3cli: ${what}: HTTP ${res.status}` +
		    (m ? ' ' + unxml(m[1]) : '') + '\n');
		process.exit(1);
	}
	return res;
}

function xml(s) {
	return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
	    .replace(/>/g, '&gt;').replace(/"/g, '&quot;');
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
	} else if (cmd === 'mb') {
		const [bucket] = args;
		check(await request('PUT', bucket, null, {}, null), `mb ${bucket}`);
	} else if (cmd === 'rb') {
		const [bucket] = args;
		check(await request('DELETE', bucket, null, {}, null),
		    `rb ${bucket}`);
	} else if (cmd === 'topic') {
		// SNS's CreateTopic, as RGW serves it on the S3 endpoint: a form
		// POST to /, signed like any other request (service sns, as the
		// SDKs sign it; the body is hashed into the signature).
		const [name, push] = args;
		const form = [['Action', 'CreateTopic'], ['Name', name],
		    ['Attributes.entry.1.key', 'push-endpoint'],
		    ['Attributes.entry.1.value', push]]
		    .map(([k, v]) => encode(k) + '=' + encode(v)).join('&');
		const res = check(await request('POST', null, null, {},
		    Buffer.from(form), { 'content-type':
		    'application/x-www-form-urlencoded; charset=utf-8' },
		    { service: 'sns', signBody: true }), `topic ${name}`);
		const m = /<TopicArn>(.*?)<\/TopicArn>/s.exec(res.body.toString());
		if (!m) {
			process.stderr.write(`s3cli: topic ${name}: no TopicArn ` +
			    'in the answer\n');
			process.exit(1);
		}
		console.log(unxml(m[1]));
	} else if (cmd === 'notify') {
		const [bucket, arn, id, ...events] = args;
		const body = '<NotificationConfiguration xmlns="' +
		    'http://s3.amazonaws.com/doc/2006-03-01/">' +
		    '<TopicConfiguration>' +
		    `<Id>${xml(id)}</Id><Topic>${xml(arn)}</Topic>` +
		    events.map((e) => `<Event>${xml(e)}</Event>`).join('') +
		    '</TopicConfiguration></NotificationConfiguration>';
		check(await request('PUT', bucket, null, { notification: null },
		    Buffer.from(body), { 'content-type': 'application/xml' },
		    { signBody: true }), `notify ${bucket}`);
	} else if (cmd === 'assume-role') {
		// STS's AssumeRole, as RGW serves it on the S3 endpoint: a form
		// POST to /, signed with service sts, the body hashed in.
		const [arn, session, seconds] = args;
		const form = [['Action', 'AssumeRole'], ['Version', '2011-06-15'],
		    ['RoleArn', arn], ['RoleSessionName', session],
		    ['DurationSeconds', seconds]]
		    .map(([k, v]) => encode(k) + '=' + encode(v)).join('&');
		const res = check(await request('POST', null, null, {},
		    Buffer.from(form), { 'content-type':
		    'application/x-www-form-urlencoded; charset=utf-8' },
		    { service: 'sts', signBody: true }), `assume-role ${arn}`);
		const body = res.body.toString();
		const out = [];
		for (const [el, name] of [['AccessKeyId', 'AWS_ACCESS_KEY_ID'],
		    ['SecretAccessKey', 'AWS_SECRET_ACCESS_KEY'],
		    ['SessionToken', 'AWS_SESSION_TOKEN']]) {
			const m = new RegExp(`<Credentials>.*<${el}>(.*?)</${el}>`,
			    's').exec(body);
			if (!m || /'/.test(unxml(m[1]))) {
				process.stderr.write(`s3cli: assume-role ${arn}: ` +
				    `no ${el} in the answer\n`);
				process.exit(1);
			}
			out.push(`${name}='${unxml(m[1])}'`);
		}
		console.log(out.join('\n'));
	} else {
		process.stderr.write('usage: s3cli.js ENDPOINT put|putdir|get|' +
		    'head|ls|rm|mb|rb|topic|notify|assume-role ...\n');
		process.exit(2);
	}
}
main().catch((e) => {
	process.stderr.write(`s3cli: ${e.message}\n`);
	process.exit(1);
});
