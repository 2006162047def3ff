UPDATE entities SET allowed_interfaces = '["ES2"]'
 WHERE role = 'MNO' AND allowed_interfaces = '["ES2","REST"]';
