DROP TABLE stock;
DROP TABLE orders;
DROP TABLE profile_types;
