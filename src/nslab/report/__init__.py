"""What a run shows people and CI: the HTML report, JUnit XML, the diagnostics bundle of a
failed scenario, and the topology diagrams."""
