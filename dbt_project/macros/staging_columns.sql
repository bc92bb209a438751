{#-
  A staging model's columns as its raw table really has them. Salesforce field-level security
  hides fields from describe, orgs differ in their custom fields and a source database may lack
  a column: a staging model declares the columns it wants, with their types, and reads them
  through `staging_columns`, so that a column the raw table lacks becomes a typed NULL instead
  of failing the build (Fivetran's dbt packages do the same with their fill_staging_columns).

  columns: a list of {'name': raw column, 'type': see staging_type, 'alias': optional output
    name, 'required': true for a column the contract requires}. A name that is none or '' (a
    custom-field var set to null) is always NULL. A required column (a key, a change column, a
    value the marts total: docs/source-contracts.md) the raw table lacks fails the model, naming
    it: as a NULL it emptied fct_sales (a NULL `operation`) or sent every order to 'unknown' (a
    NULL customer_id), every test passing.
  pass_through_var: the name of a dbt var listing extra raw columns to carry (custom fields),
    each a column name or {'name': ..., 'alias': ...}; they must exist in the raw table.

  Renders the select list (one column a line). Names are matched case-insensitively and
  quoted, so a raw column named like a keyword (Salesforce's `Type`) needs nothing special.
  At parse time (`execute` false: `dbt parse` in make/CI, no warehouse) every column is taken
  as present; only the dependencies matter then.
-#}
{% macro staging_columns(relation, columns, pass_through_var=none) -%}
    {%- set present = {} -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do present.update({column.name | lower: column.name}) -%}
        {%- endfor -%}
        {%- if not present -%}
            {{ exceptions.raise_compiler_error(
                "staging_columns: " ~ relation ~ " does not exist or has no columns; load it first") }}
        {%- endif -%}
    {%- endif -%}
    {%- set selected = [] -%}
    {%- for column in columns -%}
        {%- set name = (column.get('name') or '') | lower -%}
        {%- set alias = (column.get('alias') or name) | lower -%}
        {%- if not column.get('type') -%}
            {{ exceptions.raise_compiler_error(
                "staging_columns: column '" ~ (alias or column) ~ "' of " ~ relation ~ " declares no type") }}
        {%- endif -%}
        {#- Rendered even when unused, so that `dbt parse` checks the types on every target. -#}
        {%- set typed_null = 'cast(null as ' ~ staging_type(column['type']) ~ ')' -%}
        {%- if name and (name in present or not execute) -%}
            {%- do selected.append(selected_column(present.get(name, name), alias)) -%}
        {%- elif column.get('required') -%}
            {{ exceptions.raise_compiler_error(
                "staging_columns: " ~ relation.schema ~ "." ~ relation.identifier
                ~ " has no column '" ~ name ~ "', which the contract requires"
                ~ " (docs/source-contracts.md): give it under that name in the table's view or"
                ~ " `query:` (... as " ~ name ~ "), then load the table again; its columns: "
                ~ (present.keys() | sort | join(', '))) }}
        {%- else -%}
            {%- do selected.append(typed_null ~ ' as ' ~ adapter.quote(alias)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for column in pass_through_columns(pass_through_var) -%}
        {%- if execute and column.name not in present -%}
            {{ exceptions.raise_compiler_error(
                "staging_columns: var '" ~ pass_through_var ~ "' names column '" ~ column.name
                ~ "', which " ~ relation ~ " does not have; its columns: "
                ~ (present.keys() | sort | join(', '))) }}
        {%- endif -%}
        {%- do selected.append(selected_column(present.get(column.name, column.name), column.alias)) -%}
    {%- endfor -%}
    {{ selected | join(',\n    ') }}
{%- endmacro %}


{#- A raw column, quoted, under its alias when it has another name. -#}
{% macro selected_column(name, alias) -%}
    {{- adapter.quote(name) if name == alias else adapter.quote(name) ~ ' as ' ~ adapter.quote(alias) -}}
{%- endmacro %}


{#-
  The pass-through columns a var lists, as [{'name': raw column, 'alias': output name}], lower
  case. A staging model selects their aliases after its own columns:
  `{{ pass_through_aliases('salesforce__account_pass_through_columns') }}`.
-#}
{% macro pass_through_columns(pass_through_var) -%}
    {%- set columns = [] -%}
    {%- if pass_through_var -%}
        {%- set listed = var(pass_through_var, []) -%}
        {%- if listed is string or listed is mapping or listed is not iterable -%}
            {{ exceptions.raise_compiler_error(
                "var '" ~ pass_through_var ~ "': expected a list of column names (or of "
                ~ "{name: ..., alias: ...}), got " ~ listed) }}
        {%- endif -%}
        {%- for item in listed -%}
            {%- set name = (item.get('name') if item is mapping else item) or '' -%}
            {%- if not name or name is not string -%}
                {{ exceptions.raise_compiler_error(
                    "var '" ~ pass_through_var ~ "': each entry needs a column name, got " ~ item) }}
            {%- endif -%}
            {%- set alias = (item.get('alias') if item is mapping else none) or name -%}
            {%- do columns.append({'name': name | lower, 'alias': alias | lower}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(columns) }}
{%- endmacro %}


{#- `, alias` for each pass-through column: the tail of a staging model's final select list. -#}
{% macro pass_through_aliases(pass_through_var) -%}
    {%- for column in pass_through_columns(pass_through_var) -%}
        ,
    {{ adapter.quote(column.alias) }}
    {%- endfor -%}
{%- endmacro %}


{#-
  A declared column type in SQL that DuckDB, PostgreSQL and Redshift all accept: string,
  integer, numeric, float, boolean, date, timestamp (without time zone), timestamptz (with);
  anything else (decimal(12, 2)) is used as written.
-#}
{% macro staging_type(type) -%}
    {%- set types = {
        'string': dbt.type_string(),
        'integer': dbt.type_bigint(),
        'numeric': dbt.type_numeric(),
        'float': dbt.type_float(),
        'boolean': dbt.type_boolean(),
        'date': 'date',
        'timestamp': dbt.type_timestamp(),
        'timestamptz': 'timestamp with time zone',
    } -%}
    {{- types.get(type, type) -}}
{%- endmacro %}
