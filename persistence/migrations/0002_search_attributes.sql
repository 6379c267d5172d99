-- Custom search attributes registered in each namespace. `value_type` is the
-- `temporal.api.enums.v1.IndexedValueType` code (1 Text ... 7 KeywordList).
CREATE TABLE search_attributes (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    value_type INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
