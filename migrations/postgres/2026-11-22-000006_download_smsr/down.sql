DROP TABLE isd_p_aid_counters;
