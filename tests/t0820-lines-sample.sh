#!/bin/sh
# samples/logs.conf on a day of samples/make-logs.sh's logs: the trades,
# the access log and the application log load into their tables, and the
# two scheduled reports (every 12 hours the top 5 volumes, once a day the
# errors caused by sold-out items) give what awk finds in the same files.
# The schedules run at their real periods under a clock set just before
# them (faketime).
. "$SRCDIR/tests/lib.sh"
command -v faketime >/dev/null 2>&1 || skip_all "faketime is not installed"
plan 9
pg_start || bail "cannot start PostgreSQL"
sed "s|^\[objwatch\]$|[objwatch]\ndatabase = $PGURL|" \
    "$SRCDIR/samples/logs.conf" >"$T/logs.conf"
sh "$SRCDIR/samples/make-logs.sh" "$T/logs" 2026-12-02 || bail "make-logs.sh"
csv=$T/logs/trades/trades-2026-12-02.csv

ow_start "$T/logs.conf"
wait_for_sql "SELECT count(*) FROM objwatch.loads" 3 60
ok $? "the three logs are loaded" || ow_log
is "$(sql "SELECT count(*) FROM shop.trades")" "$(($(wc -l <"$csv") - 1))" \
    "every trade is a row"
is "$(sql "SELECT count(*) FROM shop.access")" "$(wc -l <"$T/logs/web/access.log")" \
    "every request is a row"
is "$(sql "SELECT count(*) FROM shop.app_events")" "$(wc -l <"$T/logs/app/app.log")" \
    "every application event is a row"
ow_stop

# A clock a few seconds before midnight: the 12-hour report runs for the
# period starting at 00:00, over the 12 hours before it. An ASan build
# wants its runtime first among preloads; libfaketime first is harmless.
faketime_so=$(dpkg -L libfaketime 2>/dev/null | grep 'libfaketimeMT.so.1$' | head -n 1)
[ -n "$faketime_so" ] || bail "libfaketimeMT.so.1 not found"
OBJWATCH_WRAPPER="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=$faketime_so"
export FAKETIME="@2026-12-02 23:59:56"
ow_start "$T/logs.conf"
wait_for_sql "SELECT count(*) FROM objwatch.schedule_runs
	WHERE schedule = 'top-volumes' AND finished_at IS NOT NULL" 1 60
ok $? "the top-volumes report ran at midnight" || ow_log
ow_stop
want=$(awk -F, 'NR > 1 && $1 >= "2026-12-02T12" { v[$2] += $4 * $5; n[$2]++ }
	END { for (a in v) printf "%s|%.2f|%d\n", a, v[a], n[a] }' "$csv" |
	sort -t'|' -k2,2nr -k1,1 | head -n 5)
[ "$(echo "$want" | wc -l)" -eq 5 ] || bail "awk found no top 5: '$want'"
diag "top 5 by awk: $(echo "$want" | tr '\n' ' ')"
is "$(sql "SELECT account, volume, trades FROM shop.top_volumes
	ORDER BY volume DESC, account")" "$want" \
    "its rows are the top 5 accounts by volume of 12:00 to 24:00"
is "$(sed 1d "$T/var-logs/reports/top-volumes-20261203T000000Z.csv" | tr -d '\r' | tr , '|')" \
    "$want" "and so is its CSV file"

# Six in the morning: the daily report, over the day before.
export FAKETIME="@2026-12-03 05:59:56"
ow_start "$T/logs.conf"
wait_for_sql "SELECT count(*) FROM objwatch.schedule_runs
	WHERE schedule = 'sold-out' AND finished_at IS NOT NULL" 1 60
ok $? "the sold-out report ran at 06:00" || ow_log
ow_stop
unset FAKETIME
want=$(grep '"sold_out"' "$T/logs/app/app.log" | sed 's/.*"item": "\([a-z]*\)".*"qty": \([0-9]*\).*/\1 \2/' |
	awk '{ n[$1]++; q[$1] += $2 } END { for (i in n) printf "%s %d %d\n", i, n[i], q[i] }' |
	sort -k2,2nr | while read -r item n q; do
		h=$(grep -c "POST /api/buy?item=$item HTTP/1.1\" 409" "$T/logs/web/access.log")
		printf '%s|%s|%s|%s\n' "$item" "$n" "$q" "$h"
	done)
[ "$(echo "$want" | wc -l)" -eq 2 ] || bail "awk found no two sold-out items: '$want'"
diag "sold out by awk: $(echo "$want" | tr '\n' ' ')"
is "$(node -e 'for (const r of JSON.parse(require("fs").readFileSync(process.argv[1])))
	console.log([r.item, r.refused, r.qty_refused, r.http_409].join("|"))' \
	"$T/var-logs/reports/2026-12-03/sold-out.json" 2>&1)" "$want" \
    "its JSON file counts the refused purchases of each sold-out item, from both logs"
