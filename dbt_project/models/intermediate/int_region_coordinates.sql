{#-
    One row per region key with a known place: the approximate geographic centroid of the
    country it names (latitude, longitude in degrees, WGS 84), written from general knowledge
    to about half a degree: good for distances between countries (hundreds of km), not for
    anything finer. Keys are spelled as Online Retail's `Country` column spells them (EIRE =
    Ireland, RSA = South Africa, USA = United States). Keys that name no place ("Unspecified",
    "European Community") and any other region key (a store id) have no row: their distances
    are null, never zero. Add rows here for other region keys (a store: its site). A model,
    not a seed, so that a plain `dbt run` builds everything.
-#}

with

coordinates (region, latitude, longitude) as (

    values
        ('Australia',             -25.30,  133.80),
        ('Austria',                47.60,   14.10),
        ('Bahrain',                26.00,   50.60),
        ('Belgium',                50.60,    4.60),
        ('Brazil',                -10.80,  -52.90),
        ('Canada',                 56.10, -106.30),
        ('Channel Islands',        49.30,   -2.40),
        ('Cyprus',                 35.00,   33.20),
        ('Czech Republic',         49.80,   15.50),
        ('Denmark',                56.00,   10.00),
        ('EIRE',                   53.40,   -8.00),
        ('Finland',                64.00,   26.00),
        ('France',                 46.60,    2.40),
        ('Germany',                51.20,   10.40),
        ('Greece',                 39.10,   22.00),
        ('Hong Kong',              22.30,  114.20),
        ('Iceland',                64.90,  -18.60),
        ('Israel',                 31.40,   35.00),
        ('Italy',                  42.80,   12.60),
        ('Japan',                  36.20,  138.30),
        ('Lebanon',                33.90,   35.90),
        ('Lithuania',              55.20,   23.90),
        ('Malta',                  35.90,   14.40),
        ('Netherlands',            52.10,    5.30),
        ('Norway',                 61.00,    9.00),
        ('Poland',                 52.10,   19.40),
        ('Portugal',               39.60,   -8.00),
        ('RSA',                   -29.00,   24.70),
        ('Saudi Arabia',           23.90,   45.10),
        ('Singapore',               1.35,  103.80),
        ('Spain',                  40.20,   -3.60),
        ('Sweden',                 62.00,   15.00),
        ('Switzerland',            46.80,    8.20),
        ('USA',                    39.80,  -98.60),
        ('United Arab Emirates',   23.90,   54.30),
        ('United Kingdom',         54.00,   -2.00)

),

final as (

    select
        cast(region as varchar) as region,
        cast(latitude as double) as latitude,
        cast(longitude as double) as longitude,
    from coordinates

)

select * from final
