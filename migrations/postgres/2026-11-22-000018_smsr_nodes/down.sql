DROP TABLE smsr_nodes;
