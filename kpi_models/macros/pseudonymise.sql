{#- Personal data leaves staging only as keyed hashes (docs/reliability.md, "Personal data").

    pseudonymise: a contact id, visitor id, phone number or e-mail address becomes
    'pseu_' + 32 hex digits of SHA-256(key, value). The same value gives the same pseudonym under one
    key, so joins and distinct counts are kept; without the key a value cannot be recovered or
    guessed. The key is the DuckDB variable `kpi_pseudonym_key`, set by the dbt plugin
    pipelines/dbt_pseudonym_plugin.py from KPI_PSEUDONYM_KEY as a bound parameter: it is never in
    SQL text, compiled files or logs. A missing key stops the model instead of hashing with nothing.

    pseudonym_number: the 128 bits of a pseudonym as one fixed-width number (DuckDB's UHUGEINT), the
    same information as the text: two pseudonyms are equal exactly when their numbers are. Joins,
    groupings and distinct counts over many visitors use it (`visitor_key`): DuckDB keeps a 16-byte number
    inline, where a 37-character text is stored apart and spills (the web-visit chain at SF 10:
    benchmarks/results.md). On another engine: a 128-bit binary, or the pseudonym itself.

    scrub_contact_details: free text (a landing page URL, a campaign name) keeps its words but
    e-mail addresses become '(e-mail)' and international phone numbers ('+47 912 34 567', '%2B47...')
    become '(phone)'. -#}

{% macro pseudonymise(column) -%}
    case
        when {{ column }} is null then null
        when getvariable('kpi_pseudonym_key') is null
            then error('KPI_PSEUDONYM_KEY is not set: cannot pseudonymise {{ column }}')
        else 'pseu_' || left(sha256(getvariable('kpi_pseudonym_key') || chr(31) || {{ column }}), 32)
    end
{%- endmacro %}

{% macro pseudonym_number(pseudonym) -%}
    cast('0x' || substr({{ pseudonym }}, 6) as uhugeint)
{%- endmacro %}

{% macro scrub_contact_details(column) -%}
    {#- Only text with '@', '+' or '%' (as in %40, %2B) can hold an address or a number: the cheap
        test spares most values the two regular expressions (half the cost of staging visits). -#}
    case
        when contains({{ column }}, '@') or contains({{ column }}, '+') or contains({{ column }}, '%')
        then regexp_replace(
            regexp_replace(
                {{ column }},
                '[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}', '(e-mail)', 'g'
            ),
            '(\+|%2[Bb])[0-9][0-9 ().-]{5,}[0-9]', '(phone)', 'g'
        )
        else {{ column }}
    end
{%- endmacro %}
