// mkgif.js OUT W H FRAMES: an animated GIF of FRAMES frames of W x H
// pixels, all red, written by hand (ImageMagick takes minutes over a
// thousand frames). Each frame's LZW data is CLEAR, pixel, pixel, ...:
// a clear code every second pixel keeps the codes 3 bits wide, which any
// decoder reads.
"use strict";
const fs = require("fs");
const [out, w, h, frames] = [process.argv[2], +process.argv[3],
    +process.argv[4], +process.argv[5]];
if (!out || !(w > 0) || !(h > 0) || !(frames > 0)) {
	process.stderr.write("usage: mkgif.js OUT W H FRAMES\n");
	process.exit(2);
}
const u16 = (n) => [n & 0xff, (n >> 8) & 0xff];

// The image data of one frame: min code size 2 (colours 0..3), CLEAR = 4,
// END = 5; every pixel is colour 0.
function frameData() {
	const codes = [];
	for (let i = 0; i < w * h; i++) {
		if (i % 2 === 0)
			codes.push(4);
		codes.push(0);
	}
	codes.push(5);
	const bytes = [];
	let acc = 0, nbits = 0;
	for (const c of codes) {
		acc |= c << nbits;
		nbits += 3;
		while (nbits >= 8) {
			bytes.push(acc & 0xff);
			acc >>= 8;
			nbits -= 8;
		}
	}
	if (nbits > 0)
		bytes.push(acc & 0xff);
	const blocks = [2];
	for (let i = 0; i < bytes.length; i += 255) {
		const part = bytes.slice(i, i + 255);
		blocks.push(part.length, ...part);
	}
	blocks.push(0);
	return blocks;
}

const parts = [];
// header, screen with a global table of 4 colours (red first)
parts.push(Buffer.from("GIF89a", "latin1"));
parts.push(Buffer.from([...u16(w), ...u16(h), 0xf1, 0, 0,
    255, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255]));
// loop for ever
parts.push(Buffer.from([0x21, 0xff, 11, ...Buffer.from("NETSCAPE2.0"),
    3, 1, 0, 0, 0]));
const data = Buffer.from(frameData());
for (let f = 0; f < frames; f++) {
	// graphics control: 10 ms, then the frame at 0,0
	parts.push(Buffer.from([0x21, 0xf9, 4, 0, ...u16(1), 0, 0]));
	parts.push(Buffer.from([0x2c, 0, 0, 0, 0, ...u16(w), ...u16(h), 0]));
	parts.push(data);
}
parts.push(Buffer.from([0x3b]));
fs.writeFileSync(out, Buffer.concat(parts));
