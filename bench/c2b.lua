-- wrk script: unique Daraja C2B confirmations, each for one of BENCH_CARDS smartcards.
-- The transaction id is the run's letter, the thread's letter and a counter: 10 upper-case
-- letters and digits, unique within a run. At the end it prints one JSON line.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  cards = tonumber(os.getenv("BENCH_CARDS") or "1000")
  first_card = tonumber(os.getenv("BENCH_FIRST_CARD") or "10000000")
  run = os.getenv("BENCH_RUN") or "A"
  amount = os.getenv("BENCH_AMOUNT") or "50.00"
  path = os.getenv("BENCH_PATH") or "/mobile-money/daraja/c2b/confirmation"
  pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "0")  -- paced runs (bench/soak.py)
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  counter = counter + 1
  local txid = string.format("%s%s%08d", run, string.char(65 + tid), counter)
  -- threads walk the cards from different starting points, as independent payers would
  local card = first_card + ((counter * 7919 + tid * 4973) % cards)
  local body = string.format(
    '{"TransactionType":"Pay Bill","TransID":"%s","TransTime":"20261121143000","TransAmount":"%s",' ..
    '"BusinessShortCode":"600638","BillRefNumber":"%d","InvoiceNumber":"","OrgAccountBalance":"49197.00",' ..
    '"ThirdPartyTransID":"","MSISDN":"2547****5678","FirstName":"JOHN","MiddleName":"","LastName":"DOE"}',
    txid, amount, card)
  return wrk.format("POST", path, headers, body)
end

function delay()
  return pause
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
