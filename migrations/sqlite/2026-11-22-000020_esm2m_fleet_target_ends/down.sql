DROP TABLE esm2m_fleet_target_ends;
