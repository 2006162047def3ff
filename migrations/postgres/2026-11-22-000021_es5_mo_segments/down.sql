DROP TABLE es5_mo_segments;
