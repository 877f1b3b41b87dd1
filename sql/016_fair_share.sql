-- 016: placeholder (fair share between owners).
SELECT 1;
