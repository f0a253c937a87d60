-- objwatch schema, migration 9: completion webhooks (notify = webhook:URL).
--
-- One row per final outcome of a job whose recipe notifies (done, failed
-- for good, dead), inserted in the transaction that records the outcome,
-- with the body it POSTs. state is pending until a 2xx answer (delivered)
-- or until the attempts or a day run out (dead). A sender claims a row by
-- setting locked_by and locked_until; a process that dies with a POST in
-- flight leaves a lock that expires.

CREATE TABLE objwatch.deliveries (
	id		bigserial PRIMARY KEY,
	job_id		bigint NOT NULL REFERENCES objwatch.jobs (id)
			    ON DELETE CASCADE,
	recipe		text NOT NULL,
	url		text NOT NULL,
	event		text NOT NULL,		-- job.done, job.failed, job.dead
	body		text NOT NULL,
	state		text NOT NULL DEFAULT 'pending'
			    CHECK (state IN ('pending', 'delivered', 'dead')),
	attempts	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now(),
	next_attempt_at	timestamptz DEFAULT now(),
	last_attempt_at	timestamptz,
	last_status	integer,
	last_error	text,
	delivered_at	timestamptz,
	locked_by	text,
	locked_until	timestamptz
);

CREATE INDEX deliveries_due ON objwatch.deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX deliveries_job ON objwatch.deliveries (job_id);

COMMENT ON TABLE objwatch.deliveries IS
    'completion webhooks: one row per final job outcome to POST, and how it went';

-- What objwatch status shows, per recipe: pending (not yet tried, or
-- waiting to be tried again), failing (pending after a failed attempt),
-- dead and delivered, with the last error of a delivery not delivered.
CREATE VIEW objwatch.delivery_status AS
SELECT
	recipe,
	count(*) FILTER (WHERE state = 'pending') AS pending,
	count(*) FILTER (WHERE state = 'pending' AND attempts > 0) AS failing,
	count(*) FILTER (WHERE state = 'dead') AS dead,
	count(*) FILTER (WHERE state = 'delivered') AS delivered,
	(SELECT d2.last_error FROM objwatch.deliveries d2
	    WHERE d2.recipe = d.recipe AND d2.state <> 'delivered'
	        AND d2.last_error IS NOT NULL
	    ORDER BY d2.last_attempt_at DESC LIMIT 1) AS last_error
FROM objwatch.deliveries d
GROUP BY recipe;

COMMENT ON VIEW objwatch.delivery_status IS
    'completion webhooks per recipe: pending, failing, dead, delivered';
