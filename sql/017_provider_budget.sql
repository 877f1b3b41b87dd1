-- 017: placeholder (provider rate limits and usage).
SELECT 1;
