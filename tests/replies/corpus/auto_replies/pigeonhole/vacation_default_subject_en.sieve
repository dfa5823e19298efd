require ["vacation"];
vacation :days 1 "I am out of the office until 3 January. For urgent matters please write to info@example.org.";
