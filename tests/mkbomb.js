// mkbomb.js OUT W H: a complete, valid 1-bit greyscale PNG of W x H black
// pixels: a decompression bomb (50000 x 50000 is 2.5 gigapixels in about
// 300 kB). Made with Node's zlib, for tests/t0640.
'use strict';
const fs = require('fs');
const zlib = require('zlib');

const [out, w, h] = [process.argv[2], Number(process.argv[3]),
    Number(process.argv[4])];
const row = 1 + Math.ceil(w / 8);	// filter byte + packed pixels

function crc32(buf) {
	let c, crc = 0xffffffff;
	for (let n = 0; n < buf.length; n++) {
		c = (crc ^ buf[n]) & 0xff;
		for (let k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		crc = (crc >>> 8) ^ c;
	}
	return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
	const len = Buffer.alloc(4), crc = Buffer.alloc(4);
	len.writeUInt32BE(data.length);
	const td = Buffer.concat([Buffer.from(type), data]);
	crc.writeUInt32BE(crc32(td));
	return Buffer.concat([len, td, crc]);
}

const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(w, 0);
ihdr.writeUInt32BE(h, 4);
ihdr[8] = 1;	// bit depth
ihdr[9] = 0;	// greyscale
// Deflate the rows in slices, so memory stays small.
const deflate = zlib.createDeflate({ level: 9 });
const parts = [];
deflate.on('data', (d) => parts.push(d));
deflate.on('end', () => {
	fs.writeFileSync(out, Buffer.concat([
	    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
	    chunk('IHDR', ihdr), chunk('IDAT', Buffer.concat(parts)),
	    chunk('IEND', Buffer.alloc(0))]));
});
const slice = Buffer.alloc(row * 1000);
let done = 0;
(function more() {
	while (done < h) {
		const n = Math.min(1000, h - done);
		done += n;
		if (!deflate.write(slice.subarray(0, row * n))) {
			deflate.once('drain', more);
			return;
		}
	}
	deflate.end();
})();
