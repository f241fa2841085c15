-- projection_names: every projection, from the apply_<name>(bigint, bigint, text) functions.
--
-- Example: SELECT * FROM projection_names();  -- chat_log, event, execution
CREATE OR REPLACE FUNCTION projection_names() RETURNS TABLE (name text)
LANGUAGE sql STABLE AS $$
    SELECT substr(p.proname, length('apply_') + 1)
    FROM pg_proc p
    WHERE p.proname LIKE 'apply\_%' AND p.pronamespace = 'public'::regnamespace
      AND array_to_string(p.proargtypes::regtype[], ',') = 'bigint,bigint,text'
    ORDER BY 1
$$;
