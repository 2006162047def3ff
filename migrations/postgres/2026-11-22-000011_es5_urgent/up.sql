-- ES5 commands the eUICC is waiting for with a timer of its own (HandleNotificationConfirmation: an eUICC that
-- does not get it in time rolls back, SGP.02 §3.2.2) are delivered ahead of the others, across eUICCs and within
-- one eUICC's queue (eis-store es5_queue::eids_ready_for_delivery, take_next_for_delivery).
ALTER TABLE es5_commands ADD COLUMN urgent BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX es5_commands_urgent ON es5_commands (state, eid) WHERE urgent;
