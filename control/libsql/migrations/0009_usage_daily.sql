-- Daily totals of the live usage records, per account, day, model and key,
-- kept by the triggers below in the statement that inserts or deletes a
-- record. A usage page then sums a few hundred rows instead of grouping
-- every record of its range: with 10,000 records in range the grouped scan
-- was 90% of the page's time.
--
-- Triggers rather than the ingesting code, so that every writer keeps the
-- table right: a replica still on the previous release during a rolling
-- upgrade, the retention job, an account's closure, an operator's SQL.
--
-- Invariant (controltest.Audit checks it): usage_daily equals the records
-- grouped by account_id, the UTC day of started_at, the served model (else
-- the requested one) and key_id.
CREATE TABLE usage_daily (
    account_id          TEXT NOT NULL,
    day                 TEXT NOT NULL, -- '2006-01-02', UTC, of started_at
    model               TEXT NOT NULL, -- served model, else requested
    key_id              TEXT NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    PRIMARY KEY (account_id, day, model, key_id)
) WITHOUT ROWID;

INSERT INTO usage_daily (account_id, day, model, key_id, requests, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, reasoning_tokens, cost_micros)
    SELECT account_id, strftime('%Y-%m-%d', started_at / 1000, 'unixepoch'),
        CASE WHEN served_model <> '' THEN served_model ELSE model END, key_id, count(*), sum(input_tokens),
        sum(cached_input_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost_micros)
    FROM usage_records GROUP BY 1, 2, 3, 4;

CREATE TRIGGER usage_daily_insert AFTER INSERT ON usage_records BEGIN
    INSERT INTO usage_daily (account_id, day, model, key_id, requests, input_tokens, cached_input_tokens,
            cache_write_tokens, output_tokens, reasoning_tokens, cost_micros)
        VALUES (NEW.account_id, strftime('%Y-%m-%d', NEW.started_at / 1000, 'unixepoch'),
            CASE WHEN NEW.served_model <> '' THEN NEW.served_model ELSE NEW.model END, NEW.key_id, 1,
            NEW.input_tokens, NEW.cached_input_tokens, NEW.cache_write_tokens, NEW.output_tokens,
            NEW.reasoning_tokens, NEW.cost_micros)
        ON CONFLICT (account_id, day, model, key_id) DO UPDATE SET
            requests = requests + 1,
            input_tokens = input_tokens + excluded.input_tokens,
            cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
            cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
            output_tokens = output_tokens + excluded.output_tokens,
            reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
            cost_micros = cost_micros + excluded.cost_micros;
END;

CREATE TRIGGER usage_daily_delete AFTER DELETE ON usage_records BEGIN
    UPDATE usage_daily SET
            requests = requests - 1,
            input_tokens = input_tokens - OLD.input_tokens,
            cached_input_tokens = cached_input_tokens - OLD.cached_input_tokens,
            cache_write_tokens = cache_write_tokens - OLD.cache_write_tokens,
            output_tokens = output_tokens - OLD.output_tokens,
            reasoning_tokens = reasoning_tokens - OLD.reasoning_tokens,
            cost_micros = cost_micros - OLD.cost_micros
        WHERE account_id = OLD.account_id AND day = strftime('%Y-%m-%d', OLD.started_at / 1000, 'unixepoch')
            AND model = CASE WHEN OLD.served_model <> '' THEN OLD.served_model ELSE OLD.model END
            AND key_id = OLD.key_id;
    DELETE FROM usage_daily
        WHERE account_id = OLD.account_id AND day = strftime('%Y-%m-%d', OLD.started_at / 1000, 'unixepoch')
            AND model = CASE WHEN OLD.served_model <> '' THEN OLD.served_model ELSE OLD.model END
            AND key_id = OLD.key_id AND requests <= 0;
END;
