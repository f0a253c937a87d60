-- objwatch schema, version 3: what each image is, searchable.
--
-- objects.info (from version 1) holds, per object version, what its header
-- says: width, height, format, pages, colourspace, has_alpha, orientation,
-- and when the file has them make, model, copyright, taken_at,
-- exposure_time (seconds), f_number, iso, latitude and longitude (decimal
-- degrees, south and west negative). A worker records it the first time
-- it handles any job of the object.

CREATE INDEX objects_info ON objwatch.objects USING gin (info jsonb_path_ops);

COMMENT ON COLUMN objwatch.objects.info IS
    'what the image is, from its header: width, height, format, pages, colourspace, has_alpha, orientation, EXIF make, model, taken_at, exposure_time, f_number, iso, latitude, longitude';

-- Each object version with what it is, for queries such as
-- SELECT key FROM objwatch.images WHERE model = 'X'.
CREATE VIEW objwatch.images AS
SELECT
	o.source,
	o.key,
	(o.info->>'width')::integer AS width,
	(o.info->>'height')::integer AS height,
	o.info->>'format' AS format,
	(o.info->>'pages')::integer AS pages,
	o.info->>'colourspace' AS colourspace,
	(o.info->>'has_alpha')::boolean AS has_alpha,
	(o.info->>'orientation')::integer AS orientation,
	o.info->>'make' AS make,
	o.info->>'model' AS model,
	(o.info->>'taken_at')::timestamp AS taken_at,
	(o.info->>'exposure_time')::float8 AS exposure_time,
	(o.info->>'f_number')::float8 AS f_number,
	(o.info->>'iso')::integer AS iso,
	(o.info->>'latitude')::float8 AS latitude,
	(o.info->>'longitude')::float8 AS longitude,
	o.size AS bytes,
	o.version,
	o.seen_at,
	o.deleted_at,
	o.info,
	o.id AS object_id
FROM objwatch.objects o;

COMMENT ON VIEW objwatch.images IS
    'one row per object version with what its header says (NULL until a worker has read it)';
