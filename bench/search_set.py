"""The labelled skill-search set: 160 realistic skills in 40 look-alike groups, and the queries
an agent would send for them, each labelled with the skill(s) it should find.

Every group holds four skills that share vocabulary but do different things (list issues /
create an issue / list pull requests ...), so a ranking that only matches words is punished.
Query slices:

- ``paraphrase``: plain-words requests with little word overlap with the skill;
- ``exact``: the skill's name as code would write it;
- ``partial``: a fragment of the name or a terse keyword query;
- ``typo``: a request with misspellings;
- ``multi``: one request needing two skills (both are relevant);
- ``legacy``: the 60 queries of the earlier 30-skill set (those skills are in the set as before).

Groups alternate between the ``tune`` split and the ``heldout`` split: ranking parameters are
chosen on ``tune`` queries only and reported on ``heldout`` (a query belongs to the split of
the group of its first relevant skill), so the skills behind the reported numbers were never
looked at while tuning.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelledSkill:
    group: str
    name: str
    params: str
    description: str
    detail: str

    @property
    def source(self) -> str:
        """The skill's source: a typed ``run`` whose docstring holds the description and detail."""
        return (
            f"def run({self.params}):\n"
            f'    """{self.description}.\n\n    {self.detail}\n    """\n'
            "    return None\n"
        )


@dataclass(frozen=True)
class LabelledQuery:
    kind: str
    text: str
    relevant: tuple[str, ...]
    split: str = ""


# group | name | parameters | description (docstring's first line) | rest of the docstring
_SKILLS = """
github | fetch_github_repo | owner: str, repo: str | Fetch a GitHub repository's metadata: stars, forks and open issues | Returns the star count, fork count, open issue count and default branch of one repository.
github | list_github_issues | owner: str, repo: str, state: str = 'open' | List the issues of a GitHub repository | Each issue with its number, title, labels and author; filter by state.
github | create_github_issue | owner: str, repo: str, title: str, body: str | Open a new issue on a GitHub repository | Files a bug report or feature request with a title and body and returns its URL.
github | list_pull_requests | owner: str, repo: str | List the open pull requests of a GitHub repository | Each pull request with its branch, reviewers and CI status.
chat | send_slack_message | channel: str, text: str | Post a message to a Slack channel | Sends text to a channel through the Slack web API.
chat | read_slack_history | channel: str, limit: int = 100 | Read the recent messages of a Slack channel | Returns the last messages with author and time.
chat | create_slack_channel | name: str, private: bool = False | Create a new Slack channel | Creates a public or private channel and returns its id.
chat | send_teams_message | team: str, channel: str, text: str | Post a message to a Microsoft Teams channel | Sends text to a Teams channel through a webhook.
email | send_email | to: str, subject: str, body: str | Send an email message | Sends a plain text email over SMTP.
email | read_unread_emails | folder: str = 'INBOX' | Read the unread emails in a mailbox | Fetches unread messages over IMAP with sender, subject and body.
email | search_emails_by_sender | sender: str | Find emails from one sender | Searches the mailbox for messages whose From address matches.
email | validate_email_address | address: str | Check that an email address is well formed and its domain exists | Checks the syntax and looks up the domain's MX records.
csv | parse_csv_rows | path: str | Parse a CSV file into a list of row dictionaries | Reads the header row and returns one dict per line.
csv | write_csv_file | rows: list, path: str | Write rows to a CSV file | Writes a list of dicts as comma separated lines with a header.
csv | csv_to_json | path: str | Convert a CSV file to JSON | Turns each row into a JSON object and writes an array.
csv | merge_csv_files | paths: list, output: str | Merge several CSV files into one | Concatenates files that share the same columns.
json | validate_json_schema | document: dict, schema: dict | Validate a JSON document against a JSON Schema | Reports every path that breaks the schema.
json | pretty_print_json | text: str | Pretty print JSON with indentation | Reformats compact JSON text so people can read it.
json | yaml_to_json | text: str | Convert YAML to JSON | Parses YAML text and dumps it as JSON.
json | diff_json_documents | old: dict, new: dict | Compare two JSON documents and list the differences | Shows added, removed and changed keys by path.
image | resize_image | path: str, width: int, height: int | Resize an image to a target width and height | Scales the picture with a high quality filter.
image | crop_image | path: str, left: int, top: int, right: int, bottom: int | Crop an image to a rectangle | Cuts out the region between the given pixel coordinates.
image | convert_image_format | path: str, fmt: str | Convert an image to another file format | For example PNG to JPEG or WEBP.
image | compress_image | path: str, quality: int = 80 | Compress an image to a smaller file size | Re-encodes with lower quality to save bytes.
pdf | extract_pdf_text | path: str | Extract the plain text from a PDF document | Returns the text of every page.
pdf | merge_pdf_files | paths: list, output: str | Merge several PDF files into one document | Appends the pages of each file in order.
pdf | split_pdf_pages | path: str, pages: str | Split a PDF into separate files by page range | Writes one file per range such as 1-3,4-9.
pdf | pdf_to_images | path: str, dpi: int = 150 | Render the pages of a PDF as images | Writes one PNG per page.
web | check_website_status | url: str | Check whether a website is up and how fast it answers | Returns the HTTP status code and the response time.
web | scrape_page_links | url: str | Collect every link on a web page | Returns the absolute URLs of all anchors in the HTML.
web | download_file | url: str, path: str | Download a file from a URL to disk | Streams the body to a local file and returns its size.
web | screenshot_web_page | url: str, width: int = 1280 | Take a screenshot of a web page | Renders the page in a headless browser and saves a PNG.
network | scan_open_ports | host: str | Scan a host for open TCP ports | Tries the common ports and lists those that accept a connection.
network | resolve_dns_records | domain: str, record_type: str = 'A' | Look up the DNS records of a domain | Returns A, AAAA, MX or TXT records.
network | ping_host | host: str, count: int = 4 | Ping a host and report round trip latency | Sends ICMP echo requests and reports packet loss.
network | check_ssl_certificate | host: str | Check when a site's TLS certificate expires | Reads the certificate of the server and returns its issuer and expiry date.
weather | weather_forecast | city: str, days: int = 3 | Get the weather forecast for a city | Daily temperature and precipitation for the coming days.
weather | current_weather | city: str | Get the current weather conditions in a city | Temperature, wind and sky right now.
weather | historical_weather | city: str, date: str | Get the weather observed on a past date | Temperature and rainfall recorded on a given day.
weather | air_quality_index | city: str | Get the air quality index of a city | Pollution level with PM2.5 and ozone readings.
geo | geocode_address | address: str | Turn a street address into latitude and longitude | Uses a geocoding service and returns coordinates.
geo | reverse_geocode | lat: float, lon: float | Find the street address of a latitude and longitude | The nearest address for a coordinate.
geo | distance_between_points | lat1: float, lon1: float, lat2: float, lon2: float | Compute the distance between two coordinates | Great circle distance in kilometres.
geo | route_travel_time | origin: str, destination: str, mode: str = 'driving' | Estimate the travel time between two places | Driving, cycling or walking duration along a route.
stocks | stock_price_history | ticker: str, start: str, end: str | Download historical stock prices for a ticker | Daily open, high, low and close prices.
stocks | latest_stock_quote | ticker: str | Get the latest stock quote for a ticker | The last traded price and today's change.
stocks | portfolio_value | holdings: dict | Compute the current value of a stock portfolio | Multiplies each holding by its latest price and sums them.
stocks | dividend_history | ticker: str | List the dividends a company has paid | Dates and amounts of past dividend payments.
money | convert_currency | amount: float, source: str, target: str | Convert an amount between currencies at today's rate | Uses the latest exchange rates.
money | exchange_rate_history | source: str, target: str, days: int = 30 | Get the history of an exchange rate | Daily rates between two currencies.
money | crypto_price | coin: str | Get the current price of a cryptocurrency | Bitcoin, ether and other coins in dollars.
money | compound_interest | principal: float, rate: float, years: int | Compute compound interest on savings | The balance after the given years with yearly compounding.
invoice | compute_invoice_total | items: list, tax_rate: float, discount: float = 0 | Compute an invoice total with tax and discounts | Sums the line items, applies the discount and adds tax.
invoice | generate_invoice_pdf | customer: str, items: list | Create an invoice document as a PDF | Lays out line items, totals and payment details.
invoice | send_payment_reminder | invoice_id: str | Remind a customer about an unpaid invoice | Emails a reminder with the amount due and the due date.
invoice | reconcile_payments | payments: list, invoices: list | Match received payments to open invoices | Pairs bank payments with invoices by amount and reference.
calendar | schedule_meeting | attendees: list, duration_minutes: int | Find a free slot and schedule a calendar meeting | Books the first time every attendee is free and sends invites.
calendar | list_upcoming_events | days: int = 7 | List the upcoming events in a calendar | Events of the coming days with time and place.
calendar | cancel_meeting | event_id: str | Cancel a calendar meeting and notify attendees | Deletes the event and sends a cancellation.
calendar | find_free_slots | attendees: list, day: str | Find the time slots when everyone is free | Returns the gaps in every attendee's calendar on a day.
text | summarize_article | text: str | Summarize a long article into three bullet points | Keeps the main points of the text.
text | extract_keywords | text: str, count: int = 10 | Extract the key phrases of a text | The most important terms, ranked.
text | sentiment_score | text: str | Score the sentiment of a review from negative to positive | Returns a number between -1 and 1.
text | detect_language | text: str | Detect which language a text is written in | Returns an ISO language code.
language | translate_text | text: str, target: str | Translate text into another language | Machine translation into the target language.
language | transliterate_text | text: str, script: str = 'latin' | Transliterate text into another script | For example Cyrillic or Greek letters into Latin letters.
language | spell_check_text | text: str | Find and fix spelling mistakes in a text | Returns the corrected text and each misspelled word.
language | word_count | text: str | Count words and characters in a document | Also counts sentences and paragraphs.
git | git_changelog | repo_path: str, since_tag: str | Write a changelog from the git commits since the last tag | Groups commit messages into features and fixes.
git | git_blame_line | path: str, line: int | Show who last changed a line of a file in git | The commit, author and date of the line's last change.
git | list_git_branches | repo_path: str | List the branches of a git repository | Local and remote branches with their last commit.
git | revert_git_commit | repo_path: str, commit: str | Undo a git commit with a revert commit | Creates a new commit that reverses the given one.
archive | compress_folder | path: str, output: str | Compress a folder into a zip archive | Adds every file under the folder to a zip file.
archive | extract_archive | path: str, destination: str | Unpack a zip or tar archive | Extracts every member into the destination folder.
archive | find_large_files | path: str, min_size_mb: int = 100 | Find the biggest files under a folder | Lists files above a size, largest first.
archive | find_duplicate_files | path: str | Find files with identical contents | Groups files by content hash.
system | monitor_disk_usage | path: str = '/' | Report disk usage and warn when a volume is almost full | Used and free space per mount point.
system | memory_usage_snapshot | top: int = 10 | Report memory and CPU use of the machine | Totals plus the processes using the most memory.
system | list_running_processes | name_filter: str = '' | List the running processes | Process id, name, owner and start time.
system | kill_process | pid: int | Stop a running process by its id | Sends SIGTERM, then SIGKILL if it does not exit.
logs | parse_access_log | path: str | Parse a web server access log into records | One record per request with client, path, status and size.
logs | count_error_lines | path: str, pattern: str = 'ERROR' | Count the error lines in a log file | Counts lines matching a pattern, per hour.
logs | tail_log_file | path: str, lines: int = 50 | Show the last lines of a log file | Like tail: returns the end of the file.
logs | detect_log_anomalies | path: str | Detect unusual spikes in a log | Flags minutes with far more entries than usual.
database | sql_query_report | query: str | Run a SQL query and format the rows as a report | Returns the result set as an aligned text table.
database | backup_postgres_database | database: str, output: str | Back up a PostgreSQL database to a file | Runs pg_dump and compresses the dump.
database | list_database_tables | database: str | List the tables of a database with their row counts | Schema overview: table names, columns and sizes.
database | explain_slow_query | query: str | Explain why a SQL query is slow | Runs EXPLAIN ANALYZE and points at missing indexes.
security | generate_password | length: int = 20 | Generate a strong random password | Letters, digits and symbols from a secure random source.
security | hash_password | password: str | Hash a password for storage | Uses a salted slow hash such as bcrypt.
security | check_password_breach | password: str | Check whether a password appeared in a data breach | Looks the password up in a breach corpus by hash prefix.
security | encrypt_file | path: str, key: str | Encrypt a file with a key | AES encryption of the file's bytes.
photos | rename_photos_by_date | folder: str | Rename photos by the date they were taken | Uses the capture date from the photo metadata.
photos | read_exif_metadata | path: str | Read the EXIF metadata of a photo | Camera model, exposure, GPS position and capture time.
photos | find_blurry_photos | folder: str | Find blurry or out of focus photos | Scores sharpness and lists the worst pictures.
photos | group_photos_by_location | folder: str | Group photos by where they were taken | Clusters pictures by their GPS position.
receipts | ocr_receipt | path: str | Read the items and total from a photo of a receipt | Returns the shop, each item with its price, and the total.
receipts | ocr_image_text | path: str | Read all the text in an image | Optical character recognition of any picture.
receipts | parse_bank_statement | path: str | Parse a bank statement into transactions | Date, payee and amount of every line of the statement.
receipts | categorize_expenses | transactions: list | Sort expenses into budget categories | Labels each transaction as groceries, rent, travel and so on.
customers | cluster_customers | customers: list, k: int = 5 | Group customers into segments by purchase behaviour | k-means clustering on spending features.
customers | predict_customer_churn | customer_id: str | Predict whether a customer is about to leave | A churn probability from recent activity.
customers | customer_lifetime_value | customer_id: str | Estimate a customer's lifetime value | Expected revenue from a customer over the relationship.
customers | top_customers_by_revenue | limit: int = 10 | List the customers who spend the most | Ranks customers by total revenue.
media | youtube_transcript | video_url: str | Fetch the transcript of a YouTube video | Returns the captions with timestamps.
media | download_youtube_audio | video_url: str | Download the audio track of a YouTube video | Saves the sound as an MP3 file.
media | transcribe_audio_file | path: str | Transcribe speech in an audio file to text | Speech recognition on a recording.
media | extract_video_frames | path: str, every_seconds: float = 1.0 | Extract still frames from a video | Saves one image every few seconds.
charts | plot_time_series | dates: list, values: list | Plot a time series as a line chart image | Values against dates, saved as PNG.
charts | bar_chart | labels: list, values: list | Draw a bar chart of values by category | One bar per label, saved as PNG.
charts | scatter_plot | x: list, y: list | Draw a scatter plot of two variables with a trend line | Points plus a least squares fit.
charts | histogram | values: list, bins: int = 20 | Draw a histogram of a list of numbers | Shows how values are distributed.
stats | describe_column | values: list | Summary statistics of a column of numbers | Mean, median, standard deviation, minimum and maximum.
stats | detect_outliers | values: list | Find outliers in a list of numbers | Flags values far from the rest by the interquartile range.
stats | correlation_matrix | table: dict | Compute the correlations between columns | Pearson correlation of every pair of columns.
stats | moving_average | values: list, window: int = 7 | Compute a moving average of a series | Smooths the series over a sliding window.
contacts | dedupe_contacts | contacts: list | Remove duplicate contacts from an address book | Merges entries with the same name, phone or email.
contacts | import_vcard_contacts | path: str | Import contacts from a vCard file | Reads names, phones and emails from a .vcf file.
contacts | enrich_contact_company | email: str | Find the company and job title behind an email address | Looks the person up in a business directory.
contacts | export_contacts_csv | path: str | Export the address book to a CSV file | One row per contact.
tickets | create_jira_ticket | project: str, summary: str, description: str | Create a Jira ticket | Opens a new issue in a Jira project.
tickets | close_jira_ticket | key: str, resolution: str = 'Done' | Close a Jira ticket | Moves the issue to done with a resolution.
tickets | list_sprint_tickets | board: str | List the tickets in the current sprint | Key, title, assignee and status of each.
tickets | assign_jira_ticket | key: str, assignee: str | Assign a Jira ticket to a person | Changes the assignee of an issue.
containers | list_docker_containers | all: bool = False | List the Docker containers on this machine | Name, image, status and ports of each container.
containers | restart_kubernetes_deployment | namespace: str, deployment: str | Restart a Kubernetes deployment | Rolls the pods of a deployment one by one.
containers | tail_pod_logs | namespace: str, pod: str | Show the logs of a Kubernetes pod | The recent output of a pod's containers.
containers | build_docker_image | context: str, tag: str | Build a Docker image from a Dockerfile | Runs docker build and tags the image.
cloud | upload_to_s3 | path: str, bucket: str, key: str | Upload a file to an S3 bucket | Puts the file under the given key.
cloud | list_s3_bucket | bucket: str, prefix: str = '' | List the objects in an S3 bucket | Keys, sizes and modification times.
cloud | presigned_s3_url | bucket: str, key: str, expires: int = 3600 | Create a temporary download link for an S3 object | A presigned URL valid for a while.
cloud | sync_folder_to_s3 | path: str, bucket: str | Mirror a local folder to an S3 bucket | Uploads new and changed files and removes deleted ones.
docs | markdown_to_html | text: str | Convert Markdown to HTML | Renders headings, lists, links and code blocks.
docs | table_of_contents | text: str | Generate a table of contents for a Markdown document | A nested list of links to every heading.
docs | check_broken_links | url: str | Find broken links on a website | Crawls the pages and lists links that return errors.
docs | readability_score | text: str | Score how easy a text is to read | Flesch reading ease and grade level.
time | convert_timezone | time: str, source_tz: str, target_tz: str | Convert a time between time zones | For example 9:00 in New York to Berlin time.
time | business_days_between | start: str, end: str | Count the working days between two dates | Skips weekends and public holidays.
time | parse_natural_date | text: str | Turn a phrase like next friday into a date | Understands relative dates in plain English.
time | public_holidays | country: str, year: int | List the public holidays of a country | Dates and names of the holidays in a year.
units | convert_units | value: float, source: str, target: str | Convert a quantity between units | Length, weight, volume and temperature units.
units | loan_payment_schedule | principal: float, rate: float, months: int | Compute the monthly payments of a loan | An amortization table of interest and principal.
units | percentage_change | old: float, new: float | Compute the percentage change between two numbers | How much a value went up or down, in percent.
units | body_mass_index | weight_kg: float, height_m: float | Compute the body mass index | Weight over height squared with its category.
social | post_tweet | text: str | Post a message on Twitter | Publishes a tweet from the configured account.
social | schedule_social_post | text: str, when: str | Schedule a social media post for later | Queues the post to publish at a given time.
social | count_hashtag_mentions | hashtag: str, days: int = 7 | Count how often a hashtag was used recently | Mentions per day on social networks.
social | reddit_top_posts | subreddit: str, limit: int = 10 | Fetch the top posts of a subreddit | Titles, scores and links of today's best posts.
shop | check_inventory | sku: str | Check how many units of a product are in stock | Stock level per warehouse.
shop | update_product_price | sku: str, price: float | Change the price of a product in the shop | Updates the catalogue price.
shop | list_recent_orders | days: int = 1 | List the orders placed recently | Order number, customer, items and total.
shop | refund_order | order_id: str, amount: float | Refund an order to the customer | Sends the money back through the payment provider.
api | call_rest_api | method: str, url: str, body: dict | Call a REST API endpoint | Sends an HTTP request and returns the JSON answer.
api | graphql_query | endpoint: str, query: str | Run a GraphQL query | Posts the query and returns the data.
api | send_webhook | url: str, payload: dict | Send an event to a webhook | Posts a JSON payload and retries on failure.
api | api_rate_limit_status | service: str | Check how many API calls remain before the rate limit | Reads the rate limit headers of a service.
"""

# kind | query | relevant skill(s), comma separated
_QUERIES = """
paraphrase | how popular is this project on github | fetch_github_repo
paraphrase | what bugs have people reported against this repo | list_github_issues
paraphrase | file a bug report on their tracker | create_github_issue
paraphrase | which code changes are waiting for review | list_pull_requests
paraphrase | tell the team in slack that the deploy finished | send_slack_message
paraphrase | what has been said in the slack room lately | read_slack_history
paraphrase | make a new room in slack for the project | create_slack_channel
paraphrase | notify the colleagues on microsoft teams | send_teams_message
paraphrase | mail the report to my manager | send_email
paraphrase | anything new in my inbox I have not opened | read_unread_emails
paraphrase | every message alice wrote to me | search_emails_by_sender
paraphrase | is this mail address real | validate_email_address
paraphrase | load a spreadsheet export into dictionaries | parse_csv_rows
paraphrase | save these records as a spreadsheet file | write_csv_file
paraphrase | turn a spreadsheet into a json array | csv_to_json
paraphrase | combine several spreadsheets with the same columns | merge_csv_files
paraphrase | does this payload follow the contract | validate_json_schema
paraphrase | make this minified json readable | pretty_print_json
paraphrase | turn a kubernetes manifest into json | yaml_to_json
paraphrase | what changed between these two configs | diff_json_documents
paraphrase | make a picture smaller in pixels | resize_image
paraphrase | cut out part of a picture | crop_image
paraphrase | turn a png into a jpeg | convert_image_format
paraphrase | shrink a photo so it takes fewer bytes | compress_image
paraphrase | get the words out of a pdf | extract_pdf_text
paraphrase | combine several pdfs into one | merge_pdf_files
paraphrase | break a pdf into separate files | split_pdf_pages
paraphrase | turn each pdf page into a picture | pdf_to_images
paraphrase | is the site down | check_website_status
paraphrase | collect every url a page points to | scrape_page_links
paraphrase | save a remote file locally | download_file
paraphrase | capture how a web page looks as an image | screenshot_web_page
paraphrase | which services are listening on that server | scan_open_ports
paraphrase | what are the mail servers of this domain | resolve_dns_records
paraphrase | how long does it take to reach that machine over the network | ping_host
paraphrase | when does the https cert of our site run out | check_ssl_certificate
paraphrase | will it rain tomorrow in paris | weather_forecast
paraphrase | how warm is it outside in berlin right now | current_weather
paraphrase | what was the temperature in rome last christmas | historical_weather
paraphrase | is the smog bad in delhi today | air_quality_index
paraphrase | coordinates for an address | geocode_address
paraphrase | what street is at this gps position | reverse_geocode
paraphrase | how many kilometres between these two spots | distance_between_points
paraphrase | how long is the drive from lyon to geneva | route_travel_time
paraphrase | past prices of AAPL | stock_price_history
paraphrase | what is tesla trading at right now | latest_stock_quote
paraphrase | how much are my shares worth today | portfolio_value
paraphrase | how much has coca cola paid out to shareholders | dividend_history
paraphrase | how many euros is 100 dollars | convert_currency
paraphrase | how has the yen moved against the dollar this month | exchange_rate_history
paraphrase | what is bitcoin worth | crypto_price
paraphrase | how much will my savings grow in ten years | compound_interest
paraphrase | sum up the bill including vat | compute_invoice_total
paraphrase | make a bill document for a client | generate_invoice_pdf
paraphrase | nudge the client who has not paid yet | send_payment_reminder
paraphrase | match the bank transfers to what customers owe | reconcile_payments
paraphrase | set up an appointment with the team | schedule_meeting
paraphrase | what is on my agenda this week | list_upcoming_events
paraphrase | call off tomorrow's appointment | cancel_meeting
paraphrase | when are all of us available on monday | find_free_slots
paraphrase | tl;dr of a news story | summarize_article
paraphrase | the main topics mentioned in this document | extract_keywords
paraphrase | is this feedback positive or negative | sentiment_score
paraphrase | what language is this sentence | detect_language
paraphrase | put this paragraph into spanish | translate_text
paraphrase | write a russian name with latin letters | transliterate_text
paraphrase | fix the typos in my essay | spell_check_text
paraphrase | how long is this essay | word_count
paraphrase | release notes from commits | git_changelog
paraphrase | who wrote this line of code | git_blame_line
paraphrase | what feature branches exist in the repo | list_git_branches
paraphrase | undo that bad commit | revert_git_commit
paraphrase | zip up a directory | compress_folder
paraphrase | unpack this tarball | extract_archive
paraphrase | what is eating my disk space | find_large_files
paraphrase | which files are copies of each other | find_duplicate_files
paraphrase | is the drive running out of space | monitor_disk_usage
paraphrase | how much ram is the machine using | memory_usage_snapshot
paraphrase | what programs are running on the server | list_running_processes
paraphrase | terminate the stuck program | kill_process
paraphrase | turn nginx request lines into structured records | parse_access_log
paraphrase | how many failures did the service log today | count_error_lines
paraphrase | show me the end of the server log | tail_log_file
paraphrase | spot strange bursts in the application logs | detect_log_anomalies
paraphrase | report from sql results | sql_query_report
paraphrase | dump the postgres db to a file | backup_postgres_database
paraphrase | what tables does the warehouse have | list_database_tables
paraphrase | why does this select take forever | explain_slow_query
paraphrase | create a secure passphrase | generate_password
paraphrase | store user credentials safely with bcrypt | hash_password
paraphrase | has my password been leaked | check_password_breach
paraphrase | protect a document so only I can open it | encrypt_file
paraphrase | organize pictures by capture time | rename_photos_by_date
paraphrase | which camera took this picture | read_exif_metadata
paraphrase | find the out of focus shots | find_blurry_photos
paraphrase | sort my holiday pictures by place | group_photos_by_location
paraphrase | scan a shopping receipt | ocr_receipt
paraphrase | read the words in a screenshot | ocr_image_text
paraphrase | turn my bank export into a list of transactions | parse_bank_statement
paraphrase | how much did I spend on groceries versus rent | categorize_expenses
paraphrase | find groups of similar buyers | cluster_customers
paraphrase | which clients are likely to cancel their subscription | predict_customer_churn
paraphrase | how much revenue will this client bring over time | customer_lifetime_value
paraphrase | who are our biggest spenders | top_customers_by_revenue
paraphrase | subtitles of a video | youtube_transcript
paraphrase | get the mp3 of this youtube clip | download_youtube_audio
paraphrase | turn a voice memo into text | transcribe_audio_file
paraphrase | grab stills from a movie file | extract_video_frames
paraphrase | draw a graph over time | plot_time_series
paraphrase | compare sales per region in a chart with bars | bar_chart
paraphrase | plot height against weight with a fitted line | scatter_plot
paraphrase | show how the response times are distributed | histogram
paraphrase | mean and spread of these numbers | describe_column
paraphrase | which measurements look abnormal | detect_outliers
paraphrase | which columns move together | correlation_matrix
paraphrase | smooth the daily sales over a week | moving_average
paraphrase | merge repeated people in my contacts | dedupe_contacts
paraphrase | load a vcf address book | import_vcard_contacts
paraphrase | where does this person work | enrich_contact_company
paraphrase | save my address book as a spreadsheet | export_contacts_csv
paraphrase | open a jira issue for the login bug | create_jira_ticket
paraphrase | mark the jira issue as resolved | close_jira_ticket
paraphrase | what work is planned in this iteration | list_sprint_tickets
paraphrase | give this jira issue to bob | assign_jira_ticket
paraphrase | which containers are running | list_docker_containers
paraphrase | roll the pods of the api service | restart_kubernetes_deployment
paraphrase | what is the pod printing | tail_pod_logs
paraphrase | package the app as a container image | build_docker_image
paraphrase | put this file in our aws bucket | upload_to_s3
paraphrase | what is stored in the bucket | list_s3_bucket
paraphrase | share a private bucket file for an hour | presigned_s3_url
paraphrase | back up my folder to aws storage | sync_folder_to_s3
paraphrase | render readme.md as a web page | markdown_to_html
paraphrase | add an index of headings to the document | table_of_contents
paraphrase | which links on our site return 404 | check_broken_links
paraphrase | is my blog post too hard to read | readability_score
paraphrase | what time is 3pm tokyo in london | convert_timezone
paraphrase | how many workdays until the deadline | business_days_between
paraphrase | what date is the day after tomorrow | parse_natural_date
paraphrase | which days are bank holidays in france this year | public_holidays
paraphrase | how many pounds is 5 kilograms | convert_units
paraphrase | how much is my monthly mortgage payment | loan_payment_schedule
paraphrase | by how much did revenue grow compared to last year | percentage_change
paraphrase | am I overweight for my height | body_mass_index
paraphrase | tweet the announcement | post_tweet
paraphrase | publish this on social networks tomorrow morning | schedule_social_post
paraphrase | how trending is our campaign tag | count_hashtag_mentions
paraphrase | best threads on r/python today | reddit_top_posts
paraphrase | do we still have blue shirts in the warehouse | check_inventory
paraphrase | make the blue shirt cost 20 dollars | update_product_price
paraphrase | what did customers buy today | list_recent_orders
paraphrase | give the customer their money back | refund_order
paraphrase | send a post request to the service and read the response | call_rest_api
paraphrase | fetch fields from a graph api | graphql_query
paraphrase | notify the other system with an http callback | send_webhook
paraphrase | how close are we to being throttled by the api | api_rate_limit_status
paraphrase | how many stars and forks does the project have | fetch_github_repo
paraphrase | post an update to the engineering channel | send_slack_message
paraphrase | shorten this text into key points | summarize_article
paraphrase | hear what is said in a podcast episode | transcribe_audio_file
paraphrase | see whether everyone can make it on thursday afternoon | find_free_slots
paraphrase | put the numbers into buckets and show the shape | histogram
exact | fetch_github_repo | fetch_github_repo
exact | list_github_issues | list_github_issues
exact | send_teams_message | send_teams_message
exact | read_unread_emails | read_unread_emails
exact | csv_to_json | csv_to_json
exact | yaml_to_json | yaml_to_json
exact | crop_image | crop_image
exact | split_pdf_pages | split_pdf_pages
exact | screenshot_web_page | screenshot_web_page
exact | resolve_dns_records | resolve_dns_records
exact | air_quality_index | air_quality_index
exact | reverse_geocode | reverse_geocode
exact | dividend_history | dividend_history
exact | crypto_price | crypto_price
exact | send_payment_reminder | send_payment_reminder
exact | find_free_slots | find_free_slots
exact | extract_keywords | extract_keywords
exact | transliterate_text | transliterate_text
exact | git_blame_line | git_blame_line
exact | find_duplicate_files | find_duplicate_files
exact | kill_process | kill_process
exact | detect_log_anomalies | detect_log_anomalies
exact | explain_slow_query | explain_slow_query
exact | check_password_breach | check_password_breach
exact | read_exif_metadata | read_exif_metadata
exact | categorize_expenses | categorize_expenses
exact | customer_lifetime_value | customer_lifetime_value
exact | extract_video_frames | extract_video_frames
exact | moving_average | moving_average
exact | presigned_s3_url | presigned_s3_url
exact | business_days_between | business_days_between
exact | api_rate_limit_status | api_rate_limit_status
partial | github issues | list_github_issues
partial | slack history | read_slack_history
partial | email sender | search_emails_by_sender
partial | merge csv | merge_csv_files
partial | json diff | diff_json_documents
partial | image format | convert_image_format
partial | pdf merge | merge_pdf_files
partial | page links | scrape_page_links
partial | ssl certificate | check_ssl_certificate
partial | weather history | historical_weather
partial | travel time | route_travel_time
partial | stock quote | latest_stock_quote
partial | exchange rate | exchange_rate_history
partial | invoice pdf | generate_invoice_pdf
partial | upcoming events | list_upcoming_events
partial | spell check | spell_check_text
partial | git branches | list_git_branches
partial | large files | find_large_files
partial | running processes | list_running_processes
partial | access log | parse_access_log
partial | database tables | list_database_tables
partial | hash password | hash_password
partial | blurry photos | find_blurry_photos
partial | bank statement | parse_bank_statement
partial | churn | predict_customer_churn
partial | youtube audio | download_youtube_audio
partial | scatter | scatter_plot
partial | correlation | correlation_matrix
partial | vcard | import_vcard_contacts
partial | sprint tickets | list_sprint_tickets
partial | pod logs | tail_pod_logs
partial | s3 sync | sync_folder_to_s3
partial | broken links | check_broken_links
partial | holidays | public_holidays
partial | loan schedule | loan_payment_schedule
partial | hashtag | count_hashtag_mentions
partial | inventory | check_inventory
partial | graphql | graphql_query
typo | list the isues of a githb repo | list_github_issues
typo | post a mesage to slak | send_slack_message
typo | read unred emials | read_unread_emails
typo | parse a csv flie into rows | parse_csv_rows
typo | validte json agianst a schema | validate_json_schema
typo | resise an imgae | resize_image
typo | compres an image to a smaller size | compress_image
typo | extarct text from a pfd | extract_pdf_text
typo | chekc if the websit is up | check_website_status
typo | scna open prots on a host | scan_open_ports
typo | wether forcast for london | weather_forecast
typo | geocod this adress | geocode_address
typo | stok price histroy for msft | stock_price_history
typo | convrt currancy from usd to eur | convert_currency
typo | compute the invoce totl with tax | compute_invoice_total
typo | shedule a meeting with the team | schedule_meeting
typo | sumarize this artcle | summarize_article
typo | transalte this text to german | translate_text
typo | write a changlog from git comits | git_changelog
typo | compres a foldr into a zip | compress_folder
typo | disk usgae report | monitor_disk_usage
typo | tail the log fiel | tail_log_file
typo | backup the postgress databse | backup_postgres_database
typo | genrate a strong pasword | generate_password
typo | encrpyt a file | encrypt_file
typo | ocr a reciept | ocr_receipt
typo | clustr customers into segmets | cluster_customers
typo | youtube transcrpit | youtube_transcript
typo | plot a tiem series | plot_time_series
typo | remove duplicat contacts | dedupe_contacts
typo | create a jria ticket | create_jira_ticket
typo | restart the kubernets deployment | restart_kubernetes_deployment
typo | uplaod a file to s3 | upload_to_s3
typo | convert markdwon to html | markdown_to_html
typo | convert betwen time zones | convert_timezone
multi | get the repo's star count and post it to slack | fetch_github_repo, send_slack_message
multi | read the unread mail and summarize each one | read_unread_emails, summarize_article
multi | parse the csv export and plot the values over time | parse_csv_rows, plot_time_series
multi | check whether the site is up and email the on-call engineer if not | check_website_status, send_email
multi | download the pdf from the link and pull out its text | download_file, extract_pdf_text
multi | translate the customer review and tell me if it is positive | translate_text, sentiment_score
multi | find the slowest query and back up the database before touching it | explain_slow_query, backup_postgres_database
multi | resize the photos and upload them to the bucket | resize_image, upload_to_s3
multi | make an invoice pdf and email it to the client | generate_invoice_pdf, send_email
multi | find the biggest files and zip them up | find_large_files, compress_folder
multi | fetch the youtube transcript and translate it to french | youtube_transcript, translate_text
multi | count the error lines and open a jira ticket about them | count_error_lines, create_jira_ticket
multi | geocode both addresses and compute the distance between them | geocode_address, distance_between_points
multi | convert the price from dollars to euros and compute the vat invoice total | convert_currency, compute_invoice_total
multi | list the open pull requests and post a reminder in teams | list_pull_requests, send_teams_message
multi | read the bank statement and sort the spending into categories | parse_bank_statement, categorize_expenses
multi | get the stock history and smooth it with a moving average | stock_price_history, moving_average
multi | show the pod logs and restart the deployment | tail_pod_logs, restart_kubernetes_deployment
multi | transcribe the meeting recording and extract the key phrases | transcribe_audio_file, extract_keywords
multi | find free slots for everyone and book the meeting | find_free_slots, schedule_meeting
multi | dedupe the contacts and export them to csv | dedupe_contacts, export_contacts_csv
multi | check the certificate expiry and the dns records of the domain | check_ssl_certificate, resolve_dns_records
multi | refund the order and put the item back into inventory stock | refund_order, check_inventory
multi | scrape the links on the page and check which ones are broken | scrape_page_links, check_broken_links
multi | generate a password and hash it for the database | generate_password, hash_password
"""

#: The earlier 30-skill set's queries (kept as the ``legacy`` slice; same skills, same texts).
LEGACY_QUERIES: dict[str, list[str]] = {
    "fetch_github_repo": ["github analysis", "how popular is this repo on github"],
    "summarize_article": ["tl;dr of a news story", "shorten this text into key points"],
    "resize_image": ["make a picture smaller", "scale a photo down"],
    "send_slack_message": ["notify the team in slack", "chat message to a channel"],
    "parse_csv_rows": ["read spreadsheet data", "load comma separated values"],
    "translate_text": ["convert english to french", "language translation"],
    "compute_invoice_total": [
        "sum up the bill including vat",
        "calculate how much the customer owes",
    ],
    "extract_pdf_text": ["get words out of a pdf", "read a pdf file"],
    "check_website_status": ["is the site down", "ping a url for uptime"],
    "geocode_address": ["coordinates for an address", "where on the map is this street"],
    "weather_forecast": ["will it rain tomorrow in paris", "temperature outlook for a town"],
    "dedupe_contacts": ["merge repeated people in my contacts", "clean duplicate entries"],
    "schedule_meeting": ["book a call with someone", "set up an appointment"],
    "stock_price_history": ["share price chart data", "past prices of AAPL"],
    "sentiment_score": ["is this feedback positive or negative", "mood of customer reviews"],
    "convert_currency": ["how many euros is 100 dollars", "exchange rate conversion"],
    "git_changelog": ["release notes from commits", "what changed since the last version"],
    "scan_open_ports": ["which ports are listening on a server", "network port scan"],
    "compress_folder": ["zip up a directory", "make an archive of files"],
    "detect_language": ["what language is this sentence", "identify the language of text"],
    "generate_password": ["create a secure passphrase", "random credentials"],
    "rename_photos_by_date": [
        "organize pictures by capture time",
        "sort image files chronologically",
    ],
    "sql_query_report": ["database query to a table", "report from sql results"],
    "word_count": ["how long is this essay", "length of a text in words"],
    "ocr_receipt": ["scan a shopping receipt", "text from a receipt picture"],
    "cluster_customers": ["customer segmentation", "find groups of similar buyers"],
    "monitor_disk_usage": ["is the drive running out of space", "free storage left"],
    "youtube_transcript": ["subtitles of a video", "what is said in this clip"],
    "validate_email_address": ["is this mail address valid", "verify an email"],
    "plot_time_series": ["draw a graph over time", "chart of values by date"],
}


def _parse_skills() -> list[LabelledSkill]:
    out = []
    for line in _SKILLS.strip().splitlines():
        group, name, params, description, detail = (part.strip() for part in line.split("|"))
        out.append(LabelledSkill(group, name, params, description, detail))
    return out


SKILLS: list[LabelledSkill] = _parse_skills()
GROUPS: list[str] = sorted({s.group for s in SKILLS})
#: Alternate groups (in a fixed, name-independent order) between the two splits.
SPLIT_OF_GROUP: dict[str, str] = {
    g: ("tune", "heldout")[i % 2]
    for i, g in enumerate(sorted(GROUPS, key=lambda g: zlib.crc32(g.encode())))
}
_GROUP_OF = {s.name: s.group for s in SKILLS}


def _parse_queries() -> list[LabelledQuery]:
    out = []
    for line in _QUERIES.strip().splitlines():
        kind, text, names = (part.strip() for part in line.split("|"))
        relevant = tuple(n.strip() for n in names.split(","))
        out.append(LabelledQuery(kind, text, relevant, SPLIT_OF_GROUP[_GROUP_OF[relevant[0]]]))
    for name, texts in LEGACY_QUERIES.items():
        for text in texts:
            out.append(LabelledQuery("legacy", text, (name,), SPLIT_OF_GROUP[_GROUP_OF[name]]))
    return out


QUERIES: list[LabelledQuery] = _parse_queries()
SLICES: list[str] = ["paraphrase", "exact", "partial", "typo", "multi", "legacy"]


def _check() -> None:
    names = [s.name for s in SKILLS]
    assert len(names) == len(set(names)), "duplicate skill names"
    known = set(names)
    for q in QUERIES:
        missing = set(q.relevant) - known
        assert not missing, (q.text, missing)


_check()
