"""Which rules are tested: rule coverage counted from the scenarios' own packets, its
reports (`reports/rule-coverage.json`, Cobertura, pages) and `nslab mutate`."""
