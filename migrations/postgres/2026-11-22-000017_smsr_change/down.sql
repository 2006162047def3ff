DROP TABLE smsr_es7_requests;
DROP TABLE smsr_change_expectations;
