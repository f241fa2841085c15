-- Gives the shadow the live table's primary key, unique constraints and indexes, named
-- "<name>_rebuild" until the swap.
CREATE OR REPLACE FUNCTION rebuild_index(projector_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    shadow text := projector_name || '_rebuild';
    c record;
BEGIN
    FOR c IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
             WHERE conrelid = projector_name::regclass AND contype IN ('p', 'u') LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', shadow, c.conname || '_rebuild', c.def);
    END LOOP;
    FOR c IN SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
             FROM pg_index i WHERE i.indrelid = projector_name::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) LOOP
        -- "CREATE INDEX event_timestamp ON public.event USING btree (...)" -> on the shadow
        EXECUTE regexp_replace(
            regexp_replace(c.def, '^CREATE (UNIQUE )?INDEX \S+ ON \S+',
                           'CREATE \1INDEX ' || quote_ident(c.name || '_rebuild') || ' ON ' || quote_ident(shadow)),
            '^CREATE  INDEX', 'CREATE INDEX');
    END LOOP;
END
$$;
