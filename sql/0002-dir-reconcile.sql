-- objwatch schema, version 2: what watched folders need to reconcile and to
-- record deletions.
--
-- A reconcile compares one folder at a time with the ledger, so memory
-- follows the number of folders, not of files: folder is the key up to its
-- last slash ('' at the top of a source), kept by PostgreSQL itself, and
-- indexed for the objects still present.
--
-- A deleted object is marked in objects.deleted_at (its rows stay). When
-- its source says on_delete = remove, its output files are removed too and
-- outputs.removed_at says when.

ALTER TABLE objwatch.objects ADD COLUMN folder text
    GENERATED ALWAYS AS (CASE WHEN strpos(key, '/') > 0
        THEN regexp_replace(key, '/[^/]*$', '') ELSE '' END) STORED;
CREATE INDEX objects_live_folder ON objwatch.objects (source, folder)
    WHERE deleted_at IS NULL;

COMMENT ON COLUMN objwatch.objects.folder IS
    'the folder part of key, '''' at the top of the source';
COMMENT ON COLUMN objwatch.objects.deleted_at IS
    'when the object was seen gone from its source; NULL while present';

ALTER TABLE objwatch.outputs ADD COLUMN removed_at timestamptz;

COMMENT ON COLUMN objwatch.outputs.removed_at IS
    'when the output file was removed because its object was deleted '
    '(on_delete = remove); NULL while it is kept';
