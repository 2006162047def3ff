-- Issue 10 item 3: `allowed_interfaces` is now enforced (es-runtime/src/caller.rs). The SM-DP's REST API is the
-- interface "REST"; MNOs registered by earlier versions with ES2 only are given it, so that they keep the access
-- they had. Entities an operator registered differently are left as they are.
UPDATE entities SET allowed_interfaces = '["ES2","REST"]'
 WHERE role = 'MNO' AND allowed_interfaces = '["ES2"]';
