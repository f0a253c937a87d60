#!/bin/sh
# samples/make-logs.sh DIR [DAY]: write a day of a small shop's logs under
# DIR, the same every time for the same DAY (default 2026-12-02):
#
#   DIR/trades/trades-DAY.csv  one trade a line: time, account, item, qty,
#                              price (2,000 trades over the day)
#   DIR/web/access.log         nginx combined, one request a line, among
#                              them the purchases; a purchase of an item
#                              that is sold out is answered 409
#   DIR/app/app.log            the shop's NDJSON log: an error event for
#                              each purchase refused as sold out
#
# samples/logs.conf loads the three into tables and runs the two reports
# on them: every 12 hours the top 5 accounts by volume, and once a day
# the items whose selling out caused errors.
set -eu
dir=$1
day=${2:-2026-12-02}
mkdir -p "$dir/trades" "$dir/web" "$dir/app"
awk -v day="$day" -v trades="$dir/trades/trades-$day.csv" \
    -v access="$dir/web/access.log" -v app="$dir/app/app.log" '
function rnd() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
BEGIN {
	seed = 42
	split("apple pear plum kiwi fig mango lime cherry", items, " ")
	split("0.50 1.25 2.00 0.20 3.10 1.80 0.40 4.50", prices, " ")
	split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", months, " ")
	split(day, d, "-")
	nginxday = sprintf("%s/%s/%s", d[3], months[d[2] + 0], d[1])
	# two items sell out during the day
	soldout["kiwi"] = 9 * 3600; soldout["cherry"] = 15 * 3600
	print "ts,account,item,qty,price" > trades
	for (i = 0; i < 2000; i++) {
		t = int(i * 43.2)
		hh = int(t / 3600); mm = int(t / 60) % 60; ss = t % 60
		acct = sprintf("acct-%02d", 1 + int(rnd() * rnd() * 20))
		k = 1 + int(rnd() * 8)
		qty = 1 + int(rnd() * 12)
		ip = sprintf("198.51.100.%d", 1 + int(rnd() * 200))
		if (items[k] in soldout && t >= soldout[items[k]]) {
			printf "%s - - [%s:%02d:%02d:%02d +0000] \"POST /api/buy?item=%s HTTP/1.1\" 409 31 \"https://shop.example/\" \"Mozilla/5.0\"\n", ip, nginxday, hh, mm, ss, items[k] > access
			printf "{\"time\": \"%sT%02d:%02d:%02dZ\", \"level\": \"error\", \"event\": \"buy_refused\", \"reason\": \"sold_out\", \"item\": \"%s\", \"account\": \"%s\", \"qty\": %d}\n", day, hh, mm, ss, items[k], acct, qty > app
			continue
		}
		printf "%sT%02d:%02d:%02dZ,%s,%s,%d,%s\n", day, hh, mm, ss, acct, items[k], qty, prices[k] > trades
		printf "%s - - [%s:%02d:%02d:%02d +0000] \"POST /api/buy?item=%s HTTP/1.1\" 201 48 \"https://shop.example/\" \"Mozilla/5.0\"\n", ip, nginxday, hh, mm, ss, items[k] > access
		if (rnd() < 0.3)
			printf "%s - - [%s:%02d:%02d:%02d +0000] \"GET /items/%s HTTP/1.1\" 200 %d \"-\" \"Mozilla/5.0\"\n", ip, nginxday, hh, mm, ss, items[k], 900 + int(rnd() * 300) > access
		if (rnd() < 0.05)
			printf "{\"time\": \"%sT%02d:%02d:%02dZ\", \"level\": \"info\", \"event\": \"slow_checkout\", \"account\": \"%s\", \"ms\": %d}\n", day, hh, mm, ss, acct, 800 + int(rnd() * 900) > app
	}
}'
