-- objwatch schema, migration 10: lines into tables (steps = lines ...,
-- output = table:NAME).
--
-- The rows themselves go to the recipe's own table, which objwatch creates
-- from the declared columns: object_id and line_no first, then the
-- columns, with (object_id, line_no) as its key. What each job loaded is a
-- row of loads; the lines that did not parse are rows of rejects, up to
-- max_rejects per object. All three are written in the transaction that
-- marks the job done, so a crash or a retry never loses or doubles a line.
--
-- A file followed as it grows (follow = yes, the default for folders) is
-- loaded in pieces: each load starts where the last one of the same file
-- ended (end_offset, end_line). The same file is known by its inode, or,
-- renamed or copied away by log rotation (copytruncate, compression), by
-- the checksum of its first bytes (head_len, head_crc).

CREATE TABLE objwatch.loads (
	job_id		bigint PRIMARY KEY REFERENCES objwatch.jobs (id)
			    ON DELETE CASCADE,
	object_id	bigint NOT NULL REFERENCES objwatch.objects (id)
			    ON DELETE CASCADE,
	source		text NOT NULL,
	recipe		text NOT NULL,
	table_name	text NOT NULL,
	file_inode	text,			-- a followed file's; NULL for S3
	head_len	integer NOT NULL,	-- text bytes under head_crc
	head_crc	bigint NOT NULL,	-- CRC-32 of the first head_len
	start_offset	bigint NOT NULL,	-- text byte this load began at
	end_offset	bigint NOT NULL,	-- and ended at (after a newline)
	first_line	bigint NOT NULL,	-- line_no of its first line
	end_line	bigint NOT NULL,	-- and of its last complete one
	lines		bigint NOT NULL,	-- lines read by this load
	rows		bigint NOT NULL,	-- loaded into the table
	dropped		bigint NOT NULL,	-- blank, comments, header, filters
	rejected	bigint NOT NULL,	-- did not parse
	rejects_kept	bigint NOT NULL,	-- of those, rows in rejects
	bytes		bigint NOT NULL,	-- as read (compressed or not)
	text_bytes	bigint NOT NULL,	-- uncompressed
	gzip		boolean NOT NULL,
	seconds		double precision NOT NULL,
	loaded_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX loads_object ON objwatch.loads (object_id);
CREATE INDEX loads_follow ON objwatch.loads (source, recipe, job_id);

COMMENT ON TABLE objwatch.loads IS
    'one row per done lines job: how many lines it read, loaded, dropped and rejected';

CREATE TABLE objwatch.rejects (
	id		bigserial PRIMARY KEY,
	job_id		bigint NOT NULL REFERENCES objwatch.jobs (id)
			    ON DELETE CASCADE,
	object_id	bigint NOT NULL REFERENCES objwatch.objects (id)
			    ON DELETE CASCADE,
	recipe		text NOT NULL,
	table_name	text NOT NULL,
	line_no		bigint NOT NULL,
	reason		text NOT NULL,
	line		text NOT NULL,	-- readable: bad bytes as U+FFFD
	raw		bytea NOT NULL,	-- as read, up to 4 KiB
	truncated	boolean NOT NULL, -- raw is the start of a longer line
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejects_object ON objwatch.rejects (object_id, recipe);

COMMENT ON TABLE objwatch.rejects IS
    'lines of text that did not become rows, with why: nothing is dropped silently';

-- One row per lines recipe and table: what its loads have given so far.
CREATE VIEW objwatch.table_status AS
SELECT recipe, table_name,
       count(DISTINCT object_id) AS files,
       sum(lines) AS lines, sum(rows) AS rows, sum(dropped) AS dropped,
       sum(rejected) AS rejected, max(loaded_at) AS last_load
FROM objwatch.loads GROUP BY recipe, table_name;

COMMENT ON VIEW objwatch.table_status IS
    'per lines recipe and table: files, lines, rows, dropped and rejected so far';
